"""RS256 key loading, generation, key ids and JWKS (api.security.keys)."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from api.security import keys
from api.security.keys import (
    GENERATED_KEY_NAME,
    KeyConfigError,
    SigningKey,
    VerificationKey,
    jwks,
    kid_of,
    load_signing_key,
    load_verification_key,
)
from api.security.tokens import ACCESS, TokenService


def private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def b64url_to_int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SigningKey]:
    """A key generated into a directory that did not exist (one generation per module)."""
    directory = tmp_path_factory.mktemp("keys") / "state" / "jwt"
    return directory, load_signing_key(generate_into=directory)


# Generation


def test_generation_writes_a_private_0600_file(generated: tuple[Path, SigningKey]) -> None:
    directory, key = generated
    path = directory / GENERATED_KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert key.private_key.key_size == 2048
    assert [p.name for p in directory.iterdir()] == [GENERATED_KEY_NAME]  # no temp files left
    on_disk = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(on_disk, rsa.RSAPrivateKey)
    assert on_disk.private_numbers() == key.private_key.private_numbers()


def test_second_load_returns_the_same_key(generated: tuple[Path, SigningKey]) -> None:
    directory, key = generated
    again = load_signing_key(generate_into=directory)
    assert again.kid == key.kid
    assert again.private_key.private_numbers() == key.private_key.private_numbers()
    from_file = load_signing_key(private_key_file=directory / GENERATED_KEY_NAME)
    assert from_file.kid == key.kid


def test_an_existing_key_is_loaded_not_regenerated(
    generated: tuple[Path, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, key = generated

    def no_generation(**kwargs: object) -> rsa.RSAPrivateKey:
        raise AssertionError("a key exists; nothing should be generated")

    monkeypatch.setattr(keys.rsa, "generate_private_key", no_generation)
    assert load_signing_key(generate_into=directory).kid == key.kid


def test_losing_a_generation_race_loads_the_winners_key(
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another replica writes its key while this one is generating: the first key on disk wins,
    # so every replica signs with the same key.
    def generate_while_another_wins(**kwargs: object) -> rsa.RSAPrivateKey:
        (tmp_path / GENERATED_KEY_NAME).write_bytes(private_pem(rsa_key))
        return other_rsa_key

    monkeypatch.setattr(keys.rsa, "generate_private_key", generate_while_another_wins)
    assert load_signing_key(generate_into=tmp_path).kid == kid_of(rsa_key.public_key())
    assert [p.name for p in tmp_path.iterdir()] == [GENERATED_KEY_NAME]
    on_disk = load_signing_key(private_key_file=tmp_path / GENERATED_KEY_NAME)
    assert on_disk.kid == kid_of(rsa_key.public_key())


# Precedence


def test_pem_text_beats_the_file_which_beats_generation(
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    generated: tuple[Path, SigningKey],
) -> None:
    generated_dir, generated_key = generated
    key_file = tmp_path / "file.pem"
    key_file.write_bytes(private_pem(other_rsa_key))
    pem_text = private_pem(rsa_key).decode()

    chosen = load_signing_key(
        private_pem=pem_text, private_key_file=key_file, generate_into=generated_dir
    )
    assert chosen.kid == kid_of(rsa_key.public_key())

    chosen = load_signing_key(private_key_file=key_file, generate_into=generated_dir)
    assert chosen.kid == kid_of(other_rsa_key.public_key())

    assert load_signing_key(generate_into=generated_dir).kid == generated_key.kid
    assert len({kid_of(rsa_key.public_key()), kid_of(other_rsa_key.public_key()),
                generated_key.kid}) == 3


def test_pem_with_escaped_newlines_loads(rsa_key: rsa.RSAPrivateKey) -> None:
    one_line = private_pem(rsa_key).decode().replace("\n", "\\n")
    assert "\n" not in one_line
    assert load_signing_key(private_pem=one_line).kid == kid_of(rsa_key.public_key())


def test_a_higher_source_means_nothing_is_generated(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    unused = tmp_path / "unused"
    load_signing_key(private_pem=private_pem(rsa_key).decode(), generate_into=unused)
    assert not unused.exists()


def test_a_missing_file_does_not_fall_back_to_generation(tmp_path: Path) -> None:
    unused = tmp_path / "unused"
    with pytest.raises(KeyConfigError, match="does not exist"):
        load_signing_key(private_key_file=tmp_path / "absent.pem", generate_into=unused)
    assert not unused.exists()


# Errors


def test_nothing_given_raises() -> None:
    with pytest.raises(KeyConfigError, match="no JWT signing key"):
        load_signing_key()


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "not a pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_bad_pem_raises(pem: str) -> None:
    with pytest.raises(KeyConfigError, match="not an unencrypted PEM private key"):
        load_signing_key(private_pem=pem)


def test_a_public_key_is_not_a_private_key(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(KeyConfigError):
        load_signing_key(private_pem=public_pem(rsa_key.public_key()).decode())


def test_an_encrypted_key_raises_without_echoing_it(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ).decode()
    with pytest.raises(KeyConfigError) as info:
        load_signing_key(private_pem=pem)
    assert "BEGIN" not in str(info.value)


def test_a_bad_key_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.pem"
    path.write_text("garbage")
    with pytest.raises(KeyConfigError, match=r"bad\.pem"):
        load_signing_key(private_key_file=path)


def test_an_ec_key_raises(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(KeyConfigError, match="not an RSA private key"):
        load_signing_key(private_pem=private_pem(key).decode())
    path = tmp_path / "ec.pem"
    path.write_bytes(private_pem(key))
    with pytest.raises(KeyConfigError, match="not an RSA private key"):
        load_signing_key(private_key_file=path)
    with pytest.raises(KeyConfigError, match="not an RSA key"):
        load_verification_key(public_pem(key.public_key()))


def test_a_1024_bit_key_raises() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    with pytest.raises(KeyConfigError, match="1024 bits"):
        load_signing_key(private_pem=private_pem(key).decode())
    with pytest.raises(KeyConfigError, match="1024 bits"):
        load_verification_key(public_pem(key.public_key()))


def test_a_corrupt_generated_key_file_raises(tmp_path: Path) -> None:
    (tmp_path / GENERATED_KEY_NAME).write_text("garbage")
    with pytest.raises(KeyConfigError):
        load_signing_key(generate_into=tmp_path)


def test_bad_public_pem_raises() -> None:
    with pytest.raises(KeyConfigError, match="not a PEM public key"):
        load_verification_key("nope")


# Key ids


def test_kid_is_the_rfc7638_thumbprint(rsa_key: rsa.RSAPrivateKey) -> None:
    numbers = rsa_key.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    canonical = '{"e":"' + b64(numbers.e) + '","kty":"RSA","n":"' + b64(numbers.n) + '"}'
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest())
    assert kid_of(rsa_key.public_key()) == expected.decode().rstrip("=")
    assert len(kid_of(rsa_key.public_key())) == 43


def test_kid_matches_the_rfc7638_example() -> None:
    # RFC 7638, section 3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    key = rsa.RSAPublicNumbers(b64url_to_int("AQAB"), b64url_to_int(n)).public_key()
    assert kid_of(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_loaded_keys_carry_their_thumbprint(rsa_key: rsa.RSAPrivateKey) -> None:
    signing = load_signing_key(private_pem=private_pem(rsa_key).decode())
    assert signing.kid == kid_of(rsa_key.public_key())
    assert signing.verification == VerificationKey(signing.kid, signing.verification.public_key)
    assert load_verification_key(signing.public_pem()).kid == signing.kid
    assert load_verification_key(signing.public_pem().decode()).kid == signing.kid


# JWKS


def test_jwk_shape(rsa_key: rsa.RSAPrivateKey) -> None:
    signing = load_signing_key(private_pem=private_pem(rsa_key).decode())
    jwk = signing.verification.to_jwk()
    assert set(jwk) == {"kty", "use", "alg", "kid", "n", "e"}
    assert (jwk["kty"], jwk["use"], jwk["alg"], jwk["kid"]) == ("RSA", "sig", "RS256", signing.kid)
    assert jwk["e"] == "AQAB"
    assert "=" not in jwk["n"]
    assert "+" not in jwk["n"] and "/" not in jwk["n"]


def test_jwks_round_trip_verifies_a_token(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    signing = load_signing_key(private_pem=private_pem(rsa_key).decode())
    other = load_signing_key(private_pem=private_pem(other_rsa_key).decode())
    document = jwks([signing.verification, other.verification])
    assert [k["kid"] for k in document["keys"]] == [signing.kid, other.kid]

    service = TokenService(signing=signing, verification=[])
    issued = service.issue_access(user_id="u1", email="u1@example.com", role="user")
    header = jwt.get_unverified_header(issued.token)
    jwk = next(k for k in document["keys"] if k["kid"] == header["kid"])

    public_key = rsa.RSAPublicNumbers(b64url_to_int(jwk["e"]), b64url_to_int(jwk["n"])).public_key()
    payload = jwt.decode(issued.token, public_key, algorithms=["RS256"], issuer="tiketi")
    assert payload["userId"] == "u1"
    # pyjwt's own JWK parser agrees.
    assert jwt.decode(issued.token, jwt.PyJWK(jwk).key, algorithms=["RS256"])["sub"] == "u1"
    # And a verify-only service built from the JWK accepts the token.
    verifier = TokenService(signing=None, verification=[VerificationKey(jwk["kid"], public_key)])
    assert verifier.verify(issued.token, typ=ACCESS).user_id == "u1"
    # The other key in the set does not verify it.
    other_jwk = next(k for k in document["keys"] if k["kid"] != header["kid"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(issued.token, jwt.PyJWK(other_jwk).key, algorithms=["RS256"])


def test_jwks_of_nothing_is_empty() -> None:
    assert jwks([]) == {"keys": []}
