"""The listener connection's state machine. Pure: every input carries ``now`` (seconds, any monotonic clock).

States (:class:`agent.core.events.ConnState`)::

    CONNECTING --connected--> LISTENING --failure--> BACKING_OFF --due--> CONNECTING
         |                                              ^
         +--failure (auth)--> AUTH_FAILED --due---------+ (slow retries: ``auth_retry_s``)
    any --stop--> STOPPED (final)          any --reconnect_now--> CONNECTING, backoff reset

A failure while CONNECTING or LISTENING schedules the next attempt with :class:`agent.core.backoff.Backoff`; a
wrong password waits ``auth_retry_s`` instead, since retrying fast cannot help and floods the server log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.core.advice import Problem
from agent.core.backoff import Backoff
from agent.core.events import ConnState


class TransitionError(RuntimeError):
    """An input that makes no sense in the current state (a bug in the caller)."""


@dataclass
class ConnectionMachine:
    """Current state, why, and when to retry. Owned by the worker thread."""

    backoff: Backoff = field(default_factory=Backoff)
    auth_retry_s: float = 60.0
    state: ConnState = ConnState.CONNECTING
    problem: Problem | None = None
    detail: str = ""
    retry_at: float | None = None

    def connected(self, now: float) -> None:
        """The connection is up and LISTEN + catch-up succeeded: reset the backoff."""
        self._require(ConnState.CONNECTING)
        self.state, self.problem, self.detail, self.retry_at = ConnState.LISTENING, None, "", None
        self.backoff.reset()

    def failed(self, now: float, problem: Problem, detail: str = "") -> float:
        """A connection attempt or a live connection failed; returns the delay in seconds before the next try."""
        self._require(ConnState.CONNECTING, ConnState.LISTENING)
        if problem is Problem.AUTH_FAILED:
            self.state, delay = ConnState.AUTH_FAILED, self.auth_retry_s
        else:
            self.state, delay = ConnState.BACKING_OFF, self.backoff.next_delay()
        self.problem, self.detail, self.retry_at = problem, detail, now + delay
        return delay

    def due(self, now: float) -> bool:
        """True when waiting is over (always False outside BACKING_OFF / AUTH_FAILED)."""
        return self.retry_at is not None and now >= self.retry_at

    def retry(self, now: float) -> None:
        """Start the next attempt (call when :meth:`due`)."""
        self._require(ConnState.BACKING_OFF, ConnState.AUTH_FAILED)
        self.state, self.retry_at = ConnState.CONNECTING, None

    def reconnect_now(self, now: float) -> None:
        """A person asked to reconnect: reset the backoff and try at once (from any state but STOPPED)."""
        if self.state is ConnState.STOPPED:
            return
        self.backoff.reset()
        self.state, self.retry_at = ConnState.CONNECTING, None

    def stop(self) -> None:
        """Final state."""
        self.state, self.retry_at = ConnState.STOPPED, None

    def _require(self, *allowed: ConnState) -> None:
        if self.state not in allowed:
            raise TransitionError(f"not allowed in state {self.state.value}")
