"""Reading the database password from the OS keyring without ever blocking the desk (issue 11 item 3).

``keyring.get_password`` has no timeout: on a locked Secret Service collection it waits for an unlock prompt
that may never come (an auto-login PC at boot). :class:`KeyringReader` reads on a daemon thread and waits at most
:data:`READ_TIMEOUT_S` seconds; a read still blocked is not repeated (at most one reader thread at a time: a
later call reports "locked" again until the blocked one returns, and then uses its answer).

Each read gives a :class:`PasswordReading`: the password (or None) and, when there is none from the keyring, a
translated sentence with the fix and whether the keyring is *locked* (timed out) rather than *missing*
(no usable keyring). The conn helper is making ``agent/adapters/credentials_*`` time out with distinct errors
itself; once that is merged this module calls it instead of keeping its own thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.core.i18n import tr

log = logging.getLogger("agent.desk.password")

READ_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PasswordReading:
    """One keyring read. ``problem`` is '' when the keyring answered (with a password or with none stored)."""

    password: str | None = field(default=None, repr=False)
    problem: str = ""
    locked: bool = False


class KeyringReader:
    """See the module docstring. ``get(account)`` is the store's read (``open_store().get``: may block, may raise
    ``CredentialsUnavailable``/``CredentialsError``). Any thread may call :meth:`read`, one at a time."""

    def __init__(
        self, get: Callable[[str], str | None] | None = None, lang: str = "es", timeout_s: float = READ_TIMEOUT_S
    ) -> None:
        self._get = get or _store_get
        self._lang = lang
        self._timeout_s = timeout_s
        self._pending: tuple[str, threading.Thread, list[PasswordReading]] | None = None

    def read(self, account: str) -> PasswordReading:
        """The password for ``account`` within the timeout, or why not (blocks at most the timeout)."""
        pending = self._pending
        if pending is None or pending[0] != account:
            box: list[PasswordReading] = []
            thread = threading.Thread(target=self._work, args=(account, box), name="aviso-keyring", daemon=True)
            pending = self._pending = (account, thread, box)
            thread.start()
        _, thread, box = pending
        thread.join(self._timeout_s)
        if thread.is_alive() or not box:
            log.warning("the OS keyring did not answer within %.0f s (locked?)", self._timeout_s)
            return PasswordReading(None, tr("keyring.locked", self._lang, seconds=f"{self._timeout_s:g}"), True)
        self._pending = None
        return box[0]

    def _work(self, account: str, box: list[PasswordReading]) -> None:
        try:
            from agent.adapters.credentials_api import CredentialsError, CredentialsUnavailable
        except ImportError:  # pragma: no cover (the deploy area ships it)
            box.append(PasswordReading())
            return
        try:
            box.append(PasswordReading(self._get(account)))
        except CredentialsUnavailable as exc:
            log.warning("no password from the OS keyring for %s: %s", account, exc)
            box.append(PasswordReading(None, tr("cred.unavailable", self._lang, detail=exc.detail)))
        except CredentialsError as exc:
            log.warning("no password from the OS keyring for %s: %s", account, exc)
            # keyring's KeyringLocked: the collection is locked and no unlock prompt could be shown
            locked = "Locked" in exc.detail
            key = "keyring.locked_now" if locked else "app.keyring_error"
            box.append(PasswordReading(None, tr(key, self._lang, detail=exc.detail), locked))
        except Exception:  # a thread's own barrier: anything else is logged, never lost
            log.exception("reading the OS keyring failed")
            box.append(PasswordReading(None, tr("app.keyring_error", self._lang, detail="?")))


def _store_get(account: str) -> str | None:
    from agent.adapters.credentials_api import open_store

    return open_store().get(account)
