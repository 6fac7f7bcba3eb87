"""A cache of tokens that passed full verification, so a client presenting the same token
again (every request of a session does) costs a dictionary lookup instead of an RS256
verification. Entries lapse with the token; the cache is bounded (least recently used out)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from api.security.tokens import Claims, InvalidToken, TokenService


class VerifiedTokens:
    def __init__(self, tokens: TokenService, *, capacity: int = 50_000,
                 clock: Callable[[], float] | None = None) -> None:
        self.tokens = tokens
        self._capacity = capacity
        self._clock = clock or tokens.now
        self._cache: OrderedDict[tuple[str, str, str | None], Claims] = OrderedDict()

    def verify(self, token: str, *, typ: str, audience: str | None = None) -> Claims:
        key = (token, typ, audience)
        claims = self._cache.get(key)
        if claims is not None:
            if claims.exp > self._clock():
                self._cache.move_to_end(key)
                return claims
            del self._cache[key]
            raise InvalidToken("TOKEN_EXPIRED", "token has expired")
        claims = self.tokens.verify(token, typ=typ, audience=audience)
        self._cache[key] = claims
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return claims
