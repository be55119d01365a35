"""Pure bookkeeping for the photo source: a log rate-limiter and a negative cache. No I/O, no clock of its own:
every call takes ``now`` (seconds on one monotonic clock, e.g. :func:`time.monotonic`). Not thread-safe by itself:
the photo source calls it under its lock."""

from __future__ import annotations

from collections.abc import Callable

LOG_INTERVAL_S = 3600.0
"""A failure is logged at most once per host per this many seconds."""
NEGATIVE_TTL_S = 300.0
"""A photo that failed is not fetched again for this many seconds."""
_MAX_KEYS = 4096
"""Bound of either table: beyond it the expired keys are dropped, then the oldest."""


class LogLimiter:
    """``allow(key, now)`` is True at most once per ``interval_s`` per key (key = a URL's host)."""

    def __init__(self, interval_s: float = LOG_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._last: dict[str, float] = {}

    def allow(self, key: str, now: float) -> bool:
        """True (and remember ``now``) when ``key`` was not allowed within the last ``interval_s``."""
        last = self._last.get(key)
        if last is not None and now - last < self._interval_s:
            return False
        self._last[key] = now
        _prune(self._last, lambda t: now - t >= self._interval_s)
        return True


class NegativeCache:
    """Keys that failed recently: ``failed(key, now)`` hides ``key`` for ``ttl_s``; ``blocked(key, now)`` asks."""

    def __init__(self, ttl_s: float = NEGATIVE_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._until: dict[str, float] = {}

    def failed(self, key: str, now: float) -> None:
        """Remember that ``key`` failed at ``now``."""
        self._until[key] = now + self._ttl_s
        _prune(self._until, lambda t: t <= now)

    def blocked(self, key: str, now: float) -> bool:
        """True while ``key`` failed less than ``ttl_s`` ago."""
        until = self._until.get(key)
        if until is None:
            return False
        if until <= now:
            del self._until[key]
            return False
        return True

    def forget(self, key: str) -> None:
        """Drop ``key`` (it succeeded)."""
        self._until.pop(key, None)


def _prune(table: dict[str, float], expired: Callable[[float], bool]) -> None:
    """Keep ``table`` within :data:`_MAX_KEYS`: drop expired values first, then the oldest inserted."""
    if len(table) <= _MAX_KEYS:
        return
    for key in [k for k, v in table.items() if expired(v)]:
        del table[key]
    while len(table) > _MAX_KEYS:
        del table[next(iter(table))]
