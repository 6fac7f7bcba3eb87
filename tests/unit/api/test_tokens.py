"""RS256 access, refresh and event tokens (api.security.tokens)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from api.security.keys import SigningKey, kid_of
from api.security.tokens import (
    ACCESS,
    EVENT_ACCESS,
    REFRESH,
    Claims,
    InvalidToken,
    TokenService,
)

T0 = 1_750_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def unb64json(segment: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return data


def new_signing_key() -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid_of(key.public_key()), key)


@pytest.fixture(scope="module")
def key_a() -> SigningKey:
    return new_signing_key()


@pytest.fixture(scope="module")
def key_b() -> SigningKey:
    return new_signing_key()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(key_a: SigningKey, clock: Clock) -> TokenService:
    return TokenService(signing=key_a, verification=[key_a.verification], clock=clock)


USER = {"user_id": "user-1", "email": "u1@example.com", "role": "user"}


def valid_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "userId": "user-1", "sub": "user-1", "email": "u1@example.com", "role": "user",
        "iat": int(T0), "exp": int(T0) + 600, "jti": str(uuid.uuid4()), "iss": "tiketi",
        "typ": ACCESS,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def sign(payload: dict[str, Any], key: SigningKey, *, kid: str | None = None,
         algorithm: str = "RS256") -> str:
    """A token signed with `key`'s private key, claiming `kid` (default: the key's own).
    Any JSON payload, even one pyjwt would refuse to encode."""
    return jwt.PyJWS().encode(json.dumps(payload).encode(), key.private_key, algorithm=algorithm,
                              headers={"typ": "JWT", "kid": kid or key.kid})


def assert_invalid(service: TokenService, token: str, *, typ: str = ACCESS,
                   audience: str | None = None) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        service.verify(token, typ=typ, audience=audience)
    assert info.value.code == "TOKEN_INVALID"
    return info.value


# Round trips and wire format


def test_access_round_trip(service: TokenService) -> None:
    issued = service.issue_access(**USER)
    claims = service.verify(issued.token, typ=ACCESS)
    assert claims == issued.claims
    assert claims == Claims(
        user_id="user-1", email="u1@example.com", role="user", typ=ACCESS,
        jti=claims.jti, iat=int(T0), exp=int(T0) + 7 * 86400,
    )
    assert uuid.UUID(claims.jti).version == 4


def test_refresh_round_trip(service: TokenService) -> None:
    issued = service.issue_refresh(**USER, family="fam-1", jti="jti-1")
    claims = service.verify(issued.token, typ=REFRESH)
    assert claims == issued.claims
    assert (claims.family, claims.jti, claims.exp) == ("fam-1", "jti-1", int(T0) + 30 * 86400)
    generated = service.issue_refresh(**USER, family="fam-1")
    assert uuid.UUID(generated.claims.jti).version == 4
    assert generated.claims.jti != issued.claims.jti


def test_event_access_round_trip(service: TokenService) -> None:
    issued = service.issue_event_access(**USER, event_id="ev-9", expires_at=T0 + 900.7)
    claims = service.verify(issued.token, typ=EVENT_ACCESS, audience="event:ev-9")
    assert claims == issued.claims
    assert (claims.aud, claims.exp, claims.family) == ("event:ev-9", int(T0) + 900, None)


def test_admin_role_round_trip(service: TokenService) -> None:
    issued = service.issue_access(user_id="a", email="a@example.com", role="admin")
    assert service.verify(issued.token, typ=ACCESS).role == "admin"


def test_wire_format(service: TokenService, key_a: SigningKey) -> None:
    access = service.issue_access(**USER)
    header = jwt.get_unverified_header(access.token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": key_a.kid}
    payload = unb64json(access.token.split(".")[1])
    assert payload == {
        "userId": "user-1", "sub": "user-1", "email": "u1@example.com", "role": "user",
        "iat": int(T0), "exp": int(T0) + 7 * 86400, "jti": access.claims.jti, "iss": "tiketi",
        "typ": "access",
    }
    refresh = unb64json(service.issue_refresh(**USER, family="f").token.split(".")[1])
    assert refresh["fam"] == "f" and refresh["typ"] == "refresh" and "aud" not in refresh
    event = unb64json(
        service.issue_event_access(**USER, event_id="e", expires_at=T0 + 5).token.split(".")[1]
    )
    assert event["aud"] == "event:e" and event["typ"] == "event_access" and "fam" not in event


def test_custom_issuer_and_ttls(key_a: SigningKey, clock: Clock) -> None:
    service = TokenService(signing=key_a, verification=[], issuer="other", access_ttl_s=60,
                           refresh_ttl_s=120, clock=clock)
    access = service.issue_access(**USER)
    assert access.claims.exp == int(T0) + 60
    assert service.issue_refresh(**USER, family="f").claims.exp == int(T0) + 120
    assert unb64json(access.token.split(".")[1])["iss"] == "other"
    default_issuer = TokenService(signing=None, verification=[key_a.verification], clock=clock)
    assert_invalid(default_issuer, access.token)


def test_unknown_role_is_refused(service: TokenService) -> None:
    with pytest.raises(ValueError, match="role"):
        service.issue_access(user_id="u", email="u@example.com", role="superuser")
    with pytest.raises(ValueError, match="role"):
        service.issue_refresh(user_id="u", email="u@example.com", role="", family="f")


# Algorithms


def test_alg_none_is_rejected(service: TokenService, key_a: SigningKey) -> None:
    unsigned = jwt.encode(valid_payload(), None, algorithm="none", headers={"kid": key_a.kid})
    assert_invalid(service, unsigned)
    hand_made = b64json({"alg": "none", "typ": "JWT", "kid": key_a.kid}) + "."
    assert_invalid(service, hand_made + b64json(valid_payload()) + ".")
    # "none" with a real RS256 signature appended changes nothing.
    real = sign(valid_payload(), key_a)
    assert_invalid(service, hand_made + real.split(".", 1)[1])


def hs256(payload: dict[str, Any], secret: bytes, kid: str) -> str:
    signing_input = b64json({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + b64json(payload)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def test_hs256_is_rejected(service: TokenService, key_a: SigningKey) -> None:
    assert_invalid(service, hs256(valid_payload(), b"some-shared-secret", key_a.kid))


def test_hs256_with_the_public_pem_as_secret_is_rejected(
    service: TokenService, key_a: SigningKey
) -> None:
    # The classic algorithm-confusion attack: the public key is public.
    for pem in (key_a.public_pem(), key_a.public_pem().strip()):
        assert_invalid(service, hs256(valid_payload(), pem, key_a.kid))


@pytest.mark.parametrize("algorithm", ["RS384", "RS512", "PS256"])
def test_other_rsa_algorithms_are_rejected(
    service: TokenService, key_a: SigningKey, algorithm: str
) -> None:
    token = sign(valid_payload(), key_a, algorithm=algorithm)
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert_invalid(service, token)


def test_es256_claiming_the_kid_is_rejected(service: TokenService, key_a: SigningKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(valid_payload(), ec_key, algorithm="ES256", headers={"kid": key_a.kid})
    assert_invalid(service, token)


# Key ids


def test_missing_kid_is_rejected(service: TokenService, key_a: SigningKey) -> None:
    token = jwt.encode(valid_payload(), key_a.private_key, algorithm="RS256")
    assert "kid" not in jwt.get_unverified_header(token)
    assert_invalid(service, token)


@pytest.mark.parametrize("kid", ["unknown", ""])
def test_unknown_kid_is_rejected(service: TokenService, key_a: SigningKey, kid: str) -> None:
    token = jwt.encode(valid_payload(), key_a.private_key, algorithm="RS256",
                       headers={"kid": kid})
    assert_invalid(service, token)


def test_non_string_kid_is_rejected(service: TokenService, key_a: SigningKey) -> None:
    header = {"alg": "RS256", "typ": "JWT", "kid": [key_a.kid]}
    real = sign(valid_payload(), key_a)
    assert_invalid(service, b64json(header) + "." + real.split(".", 1)[1])


def test_another_key_claiming_the_kid_is_rejected(
    service: TokenService, key_a: SigningKey, key_b: SigningKey
) -> None:
    assert_invalid(service, sign(valid_payload(), key_b, kid=key_a.kid))


def test_rotation_old_tokens_still_verify(key_a: SigningKey, key_b: SigningKey,
                                          clock: Clock) -> None:
    old = TokenService(signing=key_a, verification=[], clock=clock)
    new = TokenService(signing=key_b, verification=[key_a.verification], clock=clock)
    assert new.verify(old.issue_access(**USER).token, typ=ACCESS).user_id == "user-1"
    assert new.verify(new.issue_access(**USER).token, typ=ACCESS).user_id == "user-1"
    assert_invalid(old, new.issue_access(**USER).token)  # old does not know key_b


# Tampering and malformed tokens


def test_bad_signature_is_rejected(service: TokenService) -> None:
    token = service.issue_access(**USER).token
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 1
    assert_invalid(service, f"{head}.{body}.{b64(bytes(raw))}")
    assert_invalid(service, f"{head}.{body}.")
    assert_invalid(service, f"{head}.{body}")


def test_altered_header_is_rejected(service: TokenService, key_a: SigningKey) -> None:
    token = service.issue_access(**USER).token
    _, body, signature = token.split(".")
    header = {"alg": "RS256", "typ": "JWT", "kid": key_a.kid, "x": 1}
    assert_invalid(service, f"{b64json(header)}.{body}.{signature}")
    # Same JSON, different encoding (whitespace) is a different signing input too.
    spaced = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": key_a.kid}).encode())
    assert_invalid(service, f"{spaced}.{body}.{signature}")


@pytest.mark.parametrize("change", [{"role": "admin"}, {"userId": "user-2"},
                                    {"exp": int(T0) + 10**9}, {"typ": REFRESH}])
def test_altered_payload_is_rejected(service: TokenService, change: dict[str, Any]) -> None:
    token = service.issue_access(**USER).token
    head, body, signature = token.split(".")
    payload = unb64json(body) | change
    assert_invalid(service, f"{head}.{b64json(payload)}.{signature}",
                   typ=payload["typ"])


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "a.b.c.d", "...", "ey.ey.ey",
                                   "eyJhbGciOiJSUzI1NiJ9.e30.", "\u00e9.\u00e9.\u00e9"])
def test_malformed_tokens_are_rejected(service: TokenService, token: str) -> None:
    assert_invalid(service, token)


def test_a_non_object_payload_is_rejected(service: TokenService, key_a: SigningKey) -> None:
    head = b64json({"alg": "RS256", "typ": "JWT", "kid": key_a.kid})
    for body in ([1, 2], "s", 5):
        signing_input = f"{head}.{b64json(body)}"
        signature = jwt.get_algorithm_by_name("RS256").sign(signing_input.encode(),
                                                            key_a.private_key)
        assert_invalid(service, f"{signing_input}.{b64(signature)}")


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SEGMENTS = st.lists(st.text(alphabet=B64URL, max_size=60), min_size=1, max_size=5)


@settings(max_examples=150, deadline=None)
@given(token=st.text(max_size=300) | SEGMENTS.map(".".join))
def test_arbitrary_strings_are_invalid_never_a_crash(key_a: SigningKey, token: str) -> None:
    assert_invalid(TokenService(signing=key_a, verification=[]), token)


# Claims


@pytest.mark.parametrize("claim", ["userId", "email", "role", "iat", "exp", "jti", "typ", "iss"])
def test_a_missing_claim_is_rejected(service: TokenService, key_a: SigningKey,
                                     claim: str) -> None:
    payload = valid_payload()
    assert service.verify(sign(payload, key_a), typ=ACCESS).user_id == "user-1"
    del payload[claim]
    assert_invalid(service, sign(payload, key_a))


@pytest.mark.parametrize("change", [
    {"iss": "someone-else"}, {"iss": ["tiketi"]}, {"userId": 7}, {"email": 5},
    {"role": ["admin"]}, {"jti": 1}, {"iat": "1750000000"}, {"exp": float(T0) + 600.5},
    {"exp": True}, {"sub": "user-2"},
])
def test_a_wrong_claim_is_rejected(service: TokenService, key_a: SigningKey,
                                   change: dict[str, Any]) -> None:
    assert_invalid(service, sign(valid_payload(**change), key_a))


def test_refresh_without_family_is_rejected(service: TokenService, key_a: SigningKey) -> None:
    assert service.verify(sign(valid_payload(typ=REFRESH, fam="f"), key_a), typ=REFRESH)
    assert_invalid(service, sign(valid_payload(typ=REFRESH), key_a), typ=REFRESH)
    assert_invalid(service, sign(valid_payload(fam="f"), key_a))  # family on an access token


# Types and audiences


def test_refresh_does_not_pass_as_access(service: TokenService) -> None:
    refresh = service.issue_refresh(**USER, family="f").token
    assert_invalid(service, refresh, typ=ACCESS)
    access = service.issue_access(**USER).token
    assert_invalid(service, access, typ=REFRESH)
    event = service.issue_event_access(**USER, event_id="e", expires_at=T0 + 60).token
    assert_invalid(service, event, typ=ACCESS)
    assert_invalid(service, event, typ=REFRESH, audience="event:e")


@pytest.mark.parametrize(("payload_typ", "asked"), [
    (REFRESH, ACCESS), (ACCESS, REFRESH), (EVENT_ACCESS, ACCESS), ("other", ACCESS),
])
def test_typ_alone_decides(service: TokenService, key_a: SigningKey, payload_typ: str,
                           asked: str) -> None:
    # No family, no audience: nothing but `typ` tells these tokens apart.
    assert_invalid(service, sign(valid_payload(typ=payload_typ), key_a), typ=asked)


def test_event_token_audience(service: TokenService) -> None:
    token = service.issue_event_access(**USER, event_id="e1", expires_at=T0 + 60).token
    assert service.verify(token, typ=EVENT_ACCESS, audience="event:e1").aud == "event:e1"
    assert_invalid(service, token, typ=EVENT_ACCESS, audience="event:e2")
    assert_invalid(service, token, typ=EVENT_ACCESS, audience="event:e")
    assert_invalid(service, token, typ=EVENT_ACCESS)  # an event token needs an audience asked
    access = service.issue_access(**USER).token
    assert_invalid(service, access, typ=ACCESS, audience="event:e1")  # audience missing


def test_a_list_audience_is_rejected(service: TokenService, key_a: SigningKey) -> None:
    payload = valid_payload(typ=EVENT_ACCESS, aud=["event:e1", "event:e2"])
    assert_invalid(service, sign(payload, key_a), typ=EVENT_ACCESS, audience="event:e1")
    payload = valid_payload(typ=EVENT_ACCESS, aud="event:e1")
    assert service.verify(sign(payload, key_a), typ=EVENT_ACCESS, audience="event:e1")


def test_unknown_type_asked_is_a_programming_error(service: TokenService) -> None:
    with pytest.raises(ValueError, match="token type"):
        service.verify(service.issue_access(**USER).token, typ="acess")


# Expiry


def test_expired_access_token(service: TokenService, clock: Clock) -> None:
    issued = service.issue_access(**USER)
    clock.now = issued.claims.exp - 0.001
    assert service.verify(issued.token, typ=ACCESS) == issued.claims
    clock.now = issued.claims.exp  # no leeway: expired at exp
    with pytest.raises(InvalidToken) as info:
        service.verify(issued.token, typ=ACCESS)
    assert info.value.code == "TOKEN_EXPIRED"
    assert issued.token not in str(info.value)


def test_expired_event_token(service: TokenService, clock: Clock) -> None:
    issued = service.issue_event_access(**USER, event_id="e", expires_at=T0 + 30)
    clock.now = T0 + 31
    with pytest.raises(InvalidToken) as info:
        service.verify(issued.token, typ=EVENT_ACCESS, audience="event:e")
    assert info.value.code == "TOKEN_EXPIRED"


def test_the_injected_clock_is_used_for_issuing(key_a: SigningKey) -> None:
    service = TokenService(signing=key_a, verification=[], clock=Clock(1000.9))
    claims = service.issue_access(**USER).claims
    assert (claims.iat, claims.exp) == (1000, 1000 + 7 * 86400)
    # Long expired by the wall clock, valid by the injected one.
    assert service.verify(service.issue_access(**USER).token, typ=ACCESS).iat == 1000


def test_a_token_from_the_future_verifies(service: TokenService, clock: Clock) -> None:
    # iat is not checked against the clock: replicas' clocks may differ by a little.
    issued = service.issue_access(**USER)
    clock.now = T0 - 5
    assert service.verify(issued.token, typ=ACCESS).iat == int(T0)


def test_an_expired_forgery_is_invalid_not_expired(
    service: TokenService, key_b: SigningKey, key_a: SigningKey
) -> None:
    forged = sign(valid_payload(exp=int(T0) - 1), key_b, kid=key_a.kid)
    assert_invalid(service, forged)


def test_error_message_never_echoes_the_token(service: TokenService) -> None:
    token = service.issue_refresh(**USER, family="f").token
    error = assert_invalid(service, token, typ=ACCESS)
    assert token not in str(error) and token not in error.reason
    assert str(error) == "token is invalid"


# Construction


def test_a_verify_only_service_cannot_issue(service: TokenService, key_a: SigningKey,
                                             clock: Clock) -> None:
    verifier = TokenService(signing=None, verification=[key_a.verification], clock=clock)
    assert not verifier.can_issue
    with pytest.raises(RuntimeError):
        verifier.issue_access(**USER)
    with pytest.raises(RuntimeError):
        verifier.issue_refresh(**USER, family="f")
    with pytest.raises(RuntimeError):
        verifier.issue_event_access(**USER, event_id="e", expires_at=T0 + 60)
    assert verifier.verify(service.issue_access(**USER).token, typ=ACCESS).user_id == "user-1"


def test_verification_lists_every_accepted_key_once(key_a: SigningKey,
                                                    key_b: SigningKey) -> None:
    both = TokenService(signing=key_b, verification=[key_a.verification, key_b.verification])
    assert [k.kid for k in both.verification] == [key_a.kid, key_b.kid]
    signing_only = TokenService(signing=key_a, verification=[])
    assert signing_only.verification == (key_a.verification,)


def test_a_service_needs_some_key() -> None:
    with pytest.raises(ValueError, match="key"):
        TokenService(signing=None, verification=[])


def test_two_keys_with_one_kid_are_refused(key_a: SigningKey, key_b: SigningKey) -> None:
    impostor = SigningKey(key_a.kid, key_b.private_key)
    with pytest.raises(ValueError, match="kid"):
        TokenService(signing=None, verification=[key_a.verification, impostor.verification])
    with pytest.raises(ValueError, match="kid"):
        TokenService(signing=impostor, verification=[key_a.verification])


def test_nonpositive_ttls_are_refused(key_a: SigningKey) -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenService(signing=key_a, verification=[], access_ttl_s=0)


def test_public_pem_is_the_public_key(key_a: SigningKey) -> None:
    loaded = serialization.load_pem_public_key(key_a.public_pem())
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == key_a.private_key.public_key().public_numbers()
