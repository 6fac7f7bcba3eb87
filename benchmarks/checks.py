"""What a benchmark measured must be what it says it measured: every request of a round (warm-up
included) must get the status that round is about. A redirect, an error page or a refused
WebSocket handshake is cheaper or dearer than the real answer, and a rate of those is not a
rate of the endpoint, so a run that meets one stops with `UnexpectedStatus` (and the script
exits non-zero) instead of writing figures."""

from __future__ import annotations

from collections.abc import Collection, Mapping

SAMPLE_BYTES = 300


class UnexpectedStatus(RuntimeError):
    """A round got answers with a status it does not measure."""


def check_statuses(what: str, statuses: Mapping[int, int], expected: Collection[int],
                   samples: Mapping[int, bytes] | None = None) -> None:
    """Raises `UnexpectedStatus` unless every answer counted in `statuses` (status -> how many)
    has a status in `expected`, or if there was no answer at all. The message names the round,
    the statuses expected and seen, and the start of one body of each unexpected status."""
    if not expected:
        raise ValueError("a round must expect at least one status")
    if not statuses or not any(statuses.values()):
        raise UnexpectedStatus(f"{what}: no answer at all (expected {_names(expected)})")
    wrong = {s: n for s, n in sorted(statuses.items()) if s not in expected and n}
    if not wrong:
        return
    total = sum(statuses.values())
    seen = ", ".join(f"{n:,} x {s}" for s, n in wrong.items())
    lines = [f"{what}: expected only {_names(expected)}, got {seen} of {total:,} answers; "
             "the figures would not measure this endpoint"]
    for status in wrong:
        sample = (samples or {}).get(status)
        if sample:
            text = sample[:SAMPLE_BYTES].decode(errors="replace")
            lines.append(f"  a {status} answer began: {text}")
    raise UnexpectedStatus("\n".join(lines))


def _names(expected: Collection[int]) -> str:
    return " or ".join(str(s) for s in sorted(expected))
