"""The delivery ledger's file (``cursor_path``): load, save atomically, and exactly one writer per file.

The file is JSON (:meth:`agent.core.ledger.Ledger.to_dict`), written to a temporary file next to it and moved over
it with ``os.replace`` (atomic on POSIX and NTFS), so a crash leaves the old or the new ledger, never half of one.

**One writer per file.** In one process, the newest :class:`LedgerStore` that :meth:`LedgerStore.claim`\\ s a path
owns it: claiming disables the previous owner's writes first (waiting for a write it has in progress). So when the
desk swaps engines on a settings reload and the old engine is stuck (a DNS lookup inside libpq that never
answers), the old one can never overwrite the new one's cursor when it wakes up, whatever the desk does.
:meth:`LedgerStore.disable` does the same on request (:meth:`agent.db.engine.ListenerEngine.abandon`). Two agent
*processes* on one file are prevented by the desk's single-instance lock, not here.

Which thread: :meth:`load`/:meth:`save` from the engine's worker; :meth:`claim`, :meth:`disable` and
:meth:`release` from any thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from agent.core.ledger import Ledger

log = logging.getLogger("agent.engine")

_claims: dict[str, LedgerStore] = {}
_claims_lock = threading.Lock()


class LedgerStore:
    """The file behind one engine's ledger. ``path`` None: nothing is loaded or saved (in-memory only)."""

    def __init__(self, path: Path | None, *, lookback_s: float = 60.0) -> None:
        self.path = path
        self.lookback_s = lookback_s
        self._lock = threading.Lock()
        self._enabled = path is not None
        self.writes = 0
        """Files written so far (tests)."""

    @property
    def enabled(self) -> bool:
        """False once disabled (or claimed by a newer store), or without a path."""
        return self._enabled

    def _key(self) -> str:
        assert self.path is not None
        return os.path.normcase(os.path.abspath(self.path))

    def claim(self) -> None:
        """Become the only writer of :attr:`path`: a previous store on the same file is disabled first."""
        if self.path is None:
            return
        with _claims_lock:
            previous = _claims.get(self._key())
            _claims[self._key()] = self
        if previous is not None and previous is not self:
            previous.disable()
            log.info("delivery cursor %s taken over from an older engine", self.path)

    def release(self) -> None:
        """Give up the claim (the file stays). Later :meth:`save` calls are refused."""
        self.disable()
        if self.path is None:
            return
        with _claims_lock:
            if _claims.get(self._key()) is self:
                del _claims[self._key()]

    def disable(self) -> None:
        """No more writes from this store; returns once a write in progress has finished. Any thread."""
        with self._lock:
            self._enabled = False

    def load(self, server_key: str) -> Ledger:
        """The saved ledger for ``server_key`` (``host:port/db#channel``), or a fresh one when there is no file,
        it is unreadable (logged), or it belongs to another server."""
        fresh = Ledger(lookback_s=self.lookback_s)
        if self.path is None or not self.path.exists():
            return fresh
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("delivery cursor %s unreadable (%s): starting from the table's end", self.path, exc)
            return fresh
        ledger = Ledger.from_dict(data, server_key, lookback_s=self.lookback_s)
        if ledger.initialized:
            log.info("delivery cursor loaded: after id %s, %s", ledger.cursor_id, ledger.cursor_time)
        return ledger

    def save(self, ledger: Ledger, server_key: str) -> bool:
        """Write ``ledger`` atomically. False when disabled or on an I/O error (logged, never raised)."""
        with self._lock:
            if not self._enabled or self.path is None:
                return False
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{id(self):x}.tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps(ledger.to_dict(server_key)), encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError as exc:
                log.warning("could not save the delivery cursor to %s: %s", self.path, exc)
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
                return False
            self.writes += 1
            return True
