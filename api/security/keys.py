"""RSA keys for RS256 JWTs: loading, generation, key ids (RFC 7638 thumbprints) and JWKS."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

KEY_BITS = 2048
MIN_KEY_BITS = 2048
PUBLIC_EXPONENT = 65537
GENERATED_KEY_NAME = "jwt-private.pem"


class KeyConfigError(ValueError):
    """The signing or verification key is missing or unusable."""


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _n_e(public_key: RSAPublicKey) -> tuple[str, str]:
    numbers = public_key.public_numbers()
    return _b64url_uint(numbers.n), _b64url_uint(numbers.e)


def kid_of(public_key: RSAPublicKey) -> str:
    """The RFC 7638 JWK SHA-256 thumbprint of the key, base64url without padding."""
    n, e = _n_e(public_key)
    canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    public_key: RSAPublicKey

    def to_jwk(self) -> dict[str, str]:
        n, e = _n_e(self.public_key)
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": n, "e": e}


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: RSAPrivateKey

    @property
    def verification(self) -> VerificationKey:
        return VerificationKey(self.kid, self.private_key.public_key())

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _check_size(bits: int, what: str) -> None:
    if bits < MIN_KEY_BITS:
        raise KeyConfigError(f"{what} is {bits} bits; RS256 needs at least {MIN_KEY_BITS}")


def _signing_key_from_pem(pem: bytes, source: str) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # TypeError: the key is encrypted. Never include the PEM in the message.
        raise KeyConfigError(
            f"{source} is not an unencrypted PEM private key ({type(exc).__name__})"
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise KeyConfigError(f"{source} is not an RSA private key")
    _check_size(key.key_size, f"the RSA key in {source}")
    return SigningKey(kid_of(key.public_key()), key)


def _read_key_file(path: Path) -> SigningKey:
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise KeyConfigError(f"private key file {path} does not exist") from None
    except OSError as exc:
        raise KeyConfigError(f"cannot read private key file {path}: {exc.strerror}") from None
    return _signing_key_from_pem(pem, f"private key file {path}")


def _generate_into(directory: Path) -> SigningKey:
    path = directory / GENERATED_KEY_NAME
    if path.exists():
        return _read_key_file(path)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyConfigError(f"cannot create key directory {directory}: {exc.strerror}") from None
    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Write a private temporary file, then link it into place: readers never see a partial
    # file, and if another process got there first, its key wins and is loaded instead.
    fd, tmp_name = tempfile.mkstemp(prefix=".jwt-private-", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key_file(path)
        except OSError:  # a filesystem without hard links
            os.replace(tmp, path)
    except OSError as exc:
        raise KeyConfigError(f"cannot write private key file {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return SigningKey(kid_of(key.public_key()), key)


def load_signing_key(
    *,
    private_pem: str | None = None,
    private_key_file: Path | None = None,
    generate_into: Path | None = None,
) -> SigningKey:
    """The RS256 signing key, from the first source given: `private_pem` (PEM text, e.g. from a
    secret; single-line text may escape its newlines as `\\n`), then `private_key_file` (must
    exist), then `generate_into` (a directory: loads its `jwt-private.pem`, or generates a
    2048-bit key and writes it there with mode 0600).

    Raises `KeyConfigError` if no source is given or the key is missing, not RSA, or too small.
    """
    if private_pem is not None:
        if "\n" not in private_pem and "\\n" in private_pem:
            private_pem = private_pem.replace("\\n", "\n")  # newlines escaped in an env var
        return _signing_key_from_pem(private_pem.encode("utf-8"), "the private key PEM")
    if private_key_file is not None:
        return _read_key_file(private_key_file)
    if generate_into is not None:
        return _generate_into(generate_into)
    raise KeyConfigError(
        "no JWT signing key configured: give a private key PEM, a key file, or a directory "
        "to generate one into"
    )


def load_verification_key(public_pem: bytes | str) -> VerificationKey:
    """A verification key from a PEM public key (SubjectPublicKeyInfo or PKCS#1)."""
    pem = public_pem.encode("utf-8") if isinstance(public_pem, str) else public_pem
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyConfigError(f"not a PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, RSAPublicKey):
        raise KeyConfigError("the public key is not an RSA key")
    _check_size(key.key_size, "the RSA public key")
    return VerificationKey(kid_of(key), key)


def jwks(keys: Iterable[VerificationKey]) -> dict[str, Any]:
    """A JWK Set document: `{"keys": [jwk, ...]}`."""
    return {"keys": [key.to_jwk() for key in keys]}
