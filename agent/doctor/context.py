"""The state one doctor run carries from check to check: the target, the open connection, the inspection.

A :class:`Context` is created by :func:`agent.doctor.runner.run`, used by one thread, and closed by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.core.advice import classify
from agent.db.inspect import KitState
from agent.doctor.report import CheckResult, failed
from agent.doctor.target import Target


@dataclass
class Context:
    """``conn``: the doctor's libpq connection once ``connect`` passed; ``kwargs``: its connect keywords (the LISTEN
    self-test opens a second connection with them); ``endpoints``: what ``resolve`` found, for ``port``."""

    target: Target
    lang: str
    clock: Callable[[], float]
    conn: Any = None
    kwargs: Any = None
    endpoints: list[tuple[Any, list[Any]]] = field(default_factory=list)
    _state: KitState | None = None
    _state_error: Exception | None = None

    def kit(self) -> KitState:
        """The database inspection (:func:`agent.db.inspect.read`), read once and shared by the checks. Raises
        what the inspection raised (each check reports it on its own line)."""
        if self._state is None and self._state_error is None:
            from agent.db import inspect

            try:
                self._state = inspect.read(self.conn)
            except Exception as exc:
                self._state_error = exc
        if self._state_error is not None:
            raise self._state_error
        assert self._state is not None
        return self._state

    def error(self, check: str, exc: BaseException) -> CheckResult:
        """``check`` failed because a query raised ``exc``: its text (password removed) and classified advice."""
        from agent.db.connect import error_text

        detail = " ".join(error_text(exc, self.target.password).split())
        return failed(check, detail, classify(getattr(exc, "pgcode", None), detail), self.lang)
