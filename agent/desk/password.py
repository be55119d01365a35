"""The tray's password read: the OS keyring through :func:`agent.deploy.keyring_access.read_keyring_password`
(bounded, 5 s; single-flight per account, so retries never pile up threads), turned into what the desk shows.

Each read gives a :class:`PasswordReading`: the password (or None) and, when the keyring gave none, the
translated sentence with the fix (:meth:`KeyringProblem.message`) and the few words for the tray's state
(:meth:`KeyringProblem.state`: "llavero bloqueado", "llavero sin respuesta", "sin llavero"...). "No password
stored" is not a keyring problem here: libpq's ``PGPASSWORD``/``.pgpass`` may still apply, and the engine says
"no password" itself. Any thread (the main thread at start, the reload thread later); blocks at most the bound.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from agent.deploy.connection_errors import KeyringProblem
from agent.deploy.keyring_access import DEFAULT_TIMEOUT_S, read_keyring_password

log = logging.getLogger("agent.desk.password")


@dataclass(frozen=True)
class PasswordReading:
    """One keyring read. ``problem`` is '' when the keyring answered (with a password or with none stored)."""

    password: str | None = field(default=None, repr=False)
    problem: str = ""
    state: str = ""


def read_password(account: str, lang: str = "es", timeout_s: float = DEFAULT_TIMEOUT_S) -> PasswordReading:
    """The password for ``account`` within ``timeout_s`` seconds, or why not."""
    try:
        return PasswordReading(read_keyring_password(account, timeout_s))
    except KeyringProblem as exc:
        log.warning("no password from the OS keyring for %s: %s (%s)", account, type(exc).__name__, exc.detail)
        return PasswordReading(None, exc.message(lang), exc.state(lang))
