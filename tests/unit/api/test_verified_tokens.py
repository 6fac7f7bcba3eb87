from __future__ import annotations

import pytest

from api.security.keys import load_signing_key
from api.security.tokens import ACCESS, InvalidToken, TokenService
from api.security.verified import VerifiedTokens


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> TokenService:
    key = load_signing_key(generate_into=tmp_path_factory.mktemp("keys"))
    return TokenService(signing=key, verification=[key.verification])


class CountingService:
    def __init__(self, inner: TokenService) -> None:
        self.inner = inner
        self.calls = 0
        self.now = inner.now

    def verify(self, token: str, *, typ: str, audience: str | None = None) -> object:
        self.calls += 1
        return self.inner.verify(token, typ=typ, audience=audience)


def test_a_token_is_verified_once_then_remembered_until_it_expires(
        service: TokenService) -> None:
    token = service.issue_access(user_id="u", email="u@x.co", role="user")
    counting = CountingService(service)
    now = [float(token.claims.iat)]
    cache = VerifiedTokens(counting, clock=lambda: now[0])  # type: ignore[arg-type]
    assert cache.verify(token.token, typ=ACCESS).user_id == "u"
    assert cache.verify(token.token, typ=ACCESS).user_id == "u"
    assert counting.calls == 1
    now[0] = token.claims.exp + 1
    with pytest.raises(InvalidToken) as info:
        cache.verify(token.token, typ=ACCESS)
    assert info.value.code == "TOKEN_EXPIRED"


def test_refused_tokens_are_never_remembered(service: TokenService) -> None:
    counting = CountingService(service)
    cache = VerifiedTokens(counting)  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(InvalidToken):
            cache.verify("bad.token.here", typ=ACCESS)
    assert counting.calls == 3


def test_the_cache_is_bounded(service: TokenService) -> None:
    cache = VerifiedTokens(service, capacity=3)
    tokens = [service.issue_access(user_id=f"u{i}", email="u@x.co", role="user").token
              for i in range(5)]
    for t in tokens:
        cache.verify(t, typ=ACCESS)
    assert len(cache._cache) == 3
