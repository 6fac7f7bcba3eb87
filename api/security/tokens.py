"""RS256 JWTs: access, refresh and per-event access tokens.

Wire format: header `{"alg": "RS256", "typ": "JWT", "kid": ...}`; payload `userId`, `sub`,
`email`, `role`, `iat`, `exp`, `jti`, `iss`, `typ`, plus `aud` (event tokens) and `fam`
(refresh tokens). Roles are carried, not checked: RBAC lives elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from api.security.keys import SigningKey, VerificationKey

ACCESS: Final = "access"
REFRESH: Final = "refresh"
EVENT_ACCESS: Final = "event_access"
TOKEN_TYPES: Final = frozenset({ACCESS, REFRESH, EVENT_ACCESS})
ROLES: Final = frozenset({"user", "admin"})

ALGORITHM: Final = "RS256"
REQUIRED_CLAIMS: Final = ("userId", "email", "role", "iat", "exp", "jti", "typ")

TokenErrorCode = Literal["TOKEN_EXPIRED", "TOKEN_INVALID"]


@dataclass(frozen=True)
class Claims:
    user_id: str
    email: str
    role: str
    typ: str
    jti: str
    iat: int
    exp: int
    aud: str | None = None
    family: str | None = None  # refresh-token family id; refresh tokens only


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: Claims


class InvalidToken(Exception):
    """A token that must not be trusted. `code` is TOKEN_EXPIRED or TOKEN_INVALID; the message
    is safe to show a client; `reason` says more, for logs. Neither contains the token."""

    def __init__(self, code: TokenErrorCode, reason: str) -> None:
        message = "token has expired" if code == "TOKEN_EXPIRED" else "token is invalid"
        super().__init__(message)
        self.code: TokenErrorCode = code
        self.message = message
        self.reason = reason


def _invalid(reason: str) -> InvalidToken:
    return InvalidToken("TOKEN_INVALID", reason)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class TokenService:
    """Issues and verifies tokens. Without a signing key it can only verify."""

    def __init__(
        self,
        *,
        signing: SigningKey | None,
        verification: Sequence[VerificationKey],
        issuer: str = "tiketi",
        access_ttl_s: int = 7 * 86400,
        refresh_ttl_s: int = 30 * 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if access_ttl_s <= 0 or refresh_ttl_s <= 0:
            raise ValueError("token lifetimes must be positive")
        keys = [*verification, *([signing.verification] if signing is not None else [])]
        self._keys: dict[str, VerificationKey] = {}
        for key in keys:
            known = self._keys.setdefault(key.kid, key)
            if known.public_key.public_numbers() != key.public_key.public_numbers():
                raise ValueError(f"two different keys share the kid {key.kid!r}")
        if not self._keys:
            raise ValueError("a TokenService needs a signing key or at least one verification key")
        self._signing = signing
        self.issuer = issuer
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self._clock = clock

    @property
    def can_issue(self) -> bool:
        return self._signing is not None

    @property
    def verification(self) -> tuple[VerificationKey, ...]:
        """Every key this service accepts (the signing key's included), e.g. for a JWKS."""
        return tuple(self._keys.values())

    # Issuing

    def issue_access(self, *, user_id: str, email: str, role: str) -> IssuedToken:
        iat = int(self._clock())
        return self._issue(Claims(user_id, email, role, ACCESS, _new_jti(), iat,
                                  iat + self.access_ttl_s))

    def issue_refresh(self, *, user_id: str, email: str, role: str, family: str,
                      jti: str | None = None) -> IssuedToken:
        iat = int(self._clock())
        jti = _new_jti() if jti is None else jti
        return self._issue(Claims(user_id, email, role, REFRESH, jti, iat,
                                  iat + self.refresh_ttl_s, family=family))

    def issue_event_access(self, *, user_id: str, email: str, role: str, event_id: str,
                           expires_at: float) -> IssuedToken:
        iat = int(self._clock())
        return self._issue(Claims(user_id, email, role, EVENT_ACCESS, _new_jti(), iat,
                                  int(expires_at), aud=f"event:{event_id}"))

    def _issue(self, claims: Claims) -> IssuedToken:
        if self._signing is None:
            raise RuntimeError("this TokenService has no signing key; it can only verify")
        if claims.role not in ROLES:
            raise ValueError(f"role must be one of {sorted(ROLES)}, not {claims.role!r}")
        payload: dict[str, Any] = {
            "userId": claims.user_id,
            "sub": claims.user_id,
            "email": claims.email,
            "role": claims.role,
            "iat": claims.iat,
            "exp": claims.exp,
            "jti": claims.jti,
            "iss": self.issuer,
            "typ": claims.typ,
        }
        if claims.aud is not None:
            payload["aud"] = claims.aud
        if claims.family is not None:
            payload["fam"] = claims.family
        token = jwt.encode(payload, self._signing.private_key, algorithm=ALGORITHM,
                           headers={"typ": "JWT", "kid": self._signing.kid})
        return IssuedToken(token, claims)

    # Verifying

    def now(self) -> float:
        return self._clock()

    def verify(self, token: str, *, typ: str, audience: str | None = None) -> Claims:
        """The claims of a valid, unexpired token of type `typ` (and audience `audience`, which
        event tokens require). Raises `InvalidToken` otherwise.

        The token is checked here rather than by `jwt.decode` (which reads the header twice
        and builds more on the way; a verification costs a hot path that meets a token for
        the first time): one RS256 signature over `header.payload` by the key its `kid`
        names, then the payload's claims. Nothing of the token is trusted before its
        signature is verified, except the header's `alg` and `kid`, which only select the
        key."""
        if typ not in TOKEN_TYPES:
            raise ValueError(f"unknown token type {typ!r}")
        if not isinstance(token, str):
            raise _invalid("token is not a string")
        head, body, signature = _segments(token)
        header = _json_object(head, "header")
        if header.get("alg") != ALGORITHM:
            raise _invalid("algorithm is not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise _invalid("missing kid")
        key = self._keys.get(kid)
        if key is None:
            raise _invalid("unknown kid")
        try:
            key.public_key.verify(_b64decode(signature), head + b"." + body, PKCS1v15(),
                                  SHA256())
        except InvalidSignature:
            raise _invalid("bad signature") from None
        payload = _json_object(body, "payload")
        for claim in (*REQUIRED_CLAIMS, "iss"):
            if claim not in payload:
                raise _invalid(f"missing claim {claim}")
        if payload["iss"] != self.issuer:
            raise _invalid("wrong issuer")
        claims = self._claims_of(payload, typ, audience)
        if claims.exp <= self._clock():
            raise InvalidToken("TOKEN_EXPIRED", "exp is in the past")
        return claims

    @staticmethod
    def _claims_of(payload: dict[str, Any], typ: str, audience: str | None) -> Claims:
        strings = ("userId", "email", "role", "jti", "typ")
        if not all(isinstance(payload.get(name), str) for name in strings):
            raise _invalid("a string claim has the wrong type")
        if not (_is_int(payload.get("iat")) and _is_int(payload.get("exp"))):
            raise _invalid("iat or exp is not an integer")
        if "sub" in payload and payload["sub"] != payload["userId"]:
            raise _invalid("sub differs from userId")
        if payload["typ"] != typ:
            raise _invalid(f"token type is not {typ}")
        aud = payload.get("aud")
        if aud != audience:  # pyjwt accepts a list containing the audience; we want exactly it
            raise _invalid("wrong audience")
        if typ == EVENT_ACCESS and aud is None:
            raise _invalid("event token without an audience")
        family = payload.get("fam")
        if typ == REFRESH and not isinstance(family, str):
            raise _invalid("refresh token without a family")
        if typ != REFRESH and family is not None:
            raise _invalid("family on a non-refresh token")
        return Claims(
            user_id=payload["userId"],
            email=payload["email"],
            role=payload["role"],
            typ=payload["typ"],
            jti=payload["jti"],
            iat=payload["iat"],
            exp=payload["exp"],
            aud=aud,
            family=family,
        )


def _segments(token: str) -> tuple[bytes, bytes, bytes]:
    """The token's three base64url segments, as ASCII bytes."""
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise _invalid("malformed token") from None
    parts = raw.split(b".")
    if len(parts) != 3 or not all(parts):
        raise _invalid("malformed token")
    return parts[0], parts[1], parts[2]


def _b64decode(segment: bytes) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise _invalid("malformed token") from None


def _json_object(segment: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid(f"malformed {what}") from None
    if not isinstance(value, dict):
        raise _invalid(f"the {what} is not a JSON object")
    return value


def _new_jti() -> str:
    return str(uuid.uuid4())
