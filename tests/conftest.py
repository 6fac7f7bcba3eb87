"""Session-wide test plumbing.

Each session gets its own base temp directory: pytest resets its shared `pytest-of-<user>`
directory to mode 0700 whenever a session starts, which would lock the embedded PostgreSQL
(running as an unprivileged user) out of its data directory while another session runs.

Garbage is collected after every test. CPython 3.11.7 raises `SystemError: AST constructor
recursion depth mismatch` when a finaliser (of a closed connection, say) runs inside a later
`compile()`, such as pytest rewriting a lazily imported plugin module; collecting at a
known-safe point keeps finalisers out of parses. Hypothesis is imported up front for the same
reason (its pytest plugin imports a module lazily at the very end)."""

from __future__ import annotations

import gc
import shutil
import tempfile
from collections.abc import Iterator

import hypothesis.internal.observability  # noqa: F401 - see the module docstring
import pytest

_OWN_BASETEMP = "_tiketi_own_basetemp"


def pytest_configure(config: pytest.Config) -> None:
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="tiketi-tests-")
        setattr(config, _OWN_BASETEMP, config.option.basetemp)


def pytest_unconfigure(config: pytest.Config) -> None:
    own = getattr(config, _OWN_BASETEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    yield
    gc.collect(1)  # a test's garbage is young; a full collection here would cost ~0.3 s a test
