"""What ``doctor`` checks: :class:`Target` (a DSN, a password kept out of ``repr``, channel, TLS, mode). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.core import names
from agent.core.config import ConnectionSettings

LISTEN_TIMEOUT_S = 3.0
HEARTBEAT_S = 15.0
"""The engine's default heartbeat (``agent.db.engine.EngineConfig.heartbeat_s``): role-level session limits
below it are reported."""


@dataclass(frozen=True)
class Target:
    """What to check. ``dsn``: libpq conninfo/URL ('' = ``PG*`` environment); the password is separate.

    ``sslmode``/``sslrootcert`` override the DSN's when set. ``listen_timeout_s``: how long the LISTEN self-test
    waits for its NOTIFY (seconds). ``mode``: ``notify`` (trigger + LISTEN) or ``poll`` (SELECT only: the trigger
    and LISTEN checks are skipped). ``heartbeat_s``: the agent's heartbeat (seconds), the bar for role-level
    ``statement_timeout``/``idle_session_timeout``.
    """

    dsn: str = ""
    password: str | None = field(default=None, repr=False)
    channel: str = names.DEFAULT_CHANNEL
    sslmode: str | None = None
    sslrootcert: str | None = None
    connect_timeout_s: int = 5
    listen_timeout_s: float = LISTEN_TIMEOUT_S
    mode: str = "notify"
    heartbeat_s: float = HEARTBEAT_S

    @classmethod
    def from_settings(cls, settings: ConnectionSettings, password: str | None) -> Target:
        """The target the agent itself would connect to (``settings`` from the configuration)."""
        params = {"host": settings.host, "port": str(settings.port), "dbname": settings.database, "user": settings.user}
        dsn = " ".join(f"{k}={conninfo_quote(v)}" for k, v in params.items() if v)
        return cls(
            dsn=dsn,
            password=password,
            channel=settings.channel,
            sslmode=settings.sslmode or None,
            sslrootcert=settings.sslrootcert or None,
            connect_timeout_s=settings.connect_timeout_s,
            mode=settings.mode,
        )


# --------------------------------------------------------------------------------------------------------------
# helpers


def conninfo_quote(value: str) -> str:
    """``value`` as a libpq conninfo value: single-quoted, ``\\`` and ``'`` escaped (PostgreSQL docs, libpq
    "Keyword/Value Connection Strings"). Pure; no psycopg2 needed (the tray may call doctor without the driver)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
