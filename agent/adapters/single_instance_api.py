"""Single-instance port: at most one agent per user (and per instance name). Protocol only.

Implementations: :mod:`agent.adapters.single_instance_posix` (``flock`` on a lock file),
:mod:`agent.adapters.single_instance_windows` (a named mutex in the logon session) and
:mod:`agent.adapters.single_instance_memory` (in-process twin for tests), picked by
:func:`agent.adapters.choose.single_instance` (``AVISO_SINGLE_INSTANCE=posix|windows|memory`` overrides).
Which thread: the main thread, at start-up and exit.
"""

from __future__ import annotations

from typing import Protocol


class SingleInstance(Protocol):
    """A per-user guard. The OS drops it when the process ends, even after a crash."""

    def acquire(self) -> bool:
        """True when this process now holds the guard; False when another instance holds it. Raises
        ``OSError`` when the guard cannot be made at all (the caller decides whether to go on)."""
        ...

    def release(self) -> None:
        """Drop the guard. Idempotent."""
        ...
