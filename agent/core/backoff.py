"""Exponential backoff with jitter, capped, never giving up. Pure: the caller passes ``now`` and the RNG.

Delay for attempt *n* (0-based) is ``min(cap_s, base_s * factor**n)`` scaled by a random factor in
``[1 - jitter, 1]`` ("equal jitter" family, AWS Architecture Blog, "Exponential Backoff And Jitter"), so a fleet of
POS PCs that lost the server together does not reconnect in lock-step. :meth:`Backoff.reset` starts over (after a
successful connection, or a manual "reconnect now").
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Backoff state. ``base_s``/``cap_s`` in seconds; ``jitter`` is a fraction in [0, 1].

    Not thread-safe: owned by the worker thread. Raises ``ValueError`` on nonsensical parameters.
    """

    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("backoff needs 0 < base_s <= cap_s, factor >= 1 and 0 <= jitter <= 1")

    def next_delay(self) -> float:
        """The delay in seconds before the next attempt; counts one more failed attempt."""
        # Cap the exponent so a very long outage cannot overflow the float.
        raw = min(self.cap_s, self.base_s * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return raw * (1.0 - self.jitter * self.rng.random())

    def retry_at(self, now: float) -> float:
        """``now + next_delay()``: when to try again, on the caller's clock (seconds)."""
        return now + self.next_delay()

    def reset(self) -> None:
        """Start over at ``base_s``."""
        self.attempt = 0
