"""The listener engine's settings: :class:`EngineConfig` (immutable; built by ``listen`` and the desk)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.core import names
from agent.core.config import Settings

MODES = ("notify", "poll")
"""``notify``: LISTEN + the kit's trigger. ``poll``: no trigger, one query per interval (hot standbys too)."""


@dataclass(frozen=True)
class EngineConfig:
    """How to reach the server and the engine's bounds (seconds unless the name says otherwise).

    ``dsn`` is a libpq conninfo string or URL *without* the password; ``password`` is passed to libpq separately
    and never appears in ``repr``, logs or events.
    """

    dsn: str
    password: str | None = field(default=None, repr=False)
    channel: str = names.DEFAULT_CHANNEL
    cursor_path: Path | None = None
    application_name: str = "aviso-entradas"
    connect_timeout_s: float = 5.0
    heartbeat_s: float = 15.0
    query_timeout_s: float = 10.0
    keepalive_idle_s: int = 10
    keepalive_interval_s: int = 5
    keepalive_count: int = 3
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    auth_retry_s: float = 60.0
    lookback_s: float = 60.0
    lookback_ids: int = 1000
    """The ledger's id window (:mod:`agent.core.ledger`): ids delivered among the last this many below the
    cursor are remembered whatever their ``fecha_hora``, and the ones not delivered are probed by primary key on
    every poll and sweep (a turnstile clock behind the server with a cached or shared sequence). 0: off."""
    replay_max_age_s: float = 600.0
    persist_interval_s: float = 1.0
    require_ack: bool = False
    """True: an entry counts as delivered in the saved ledger only once the consumer called
    :meth:`ListenerEngine.ack` for it, so entries still in the queue at exit are replayed after a restart."""
    catch_up_page: int = 5000
    sslmode: str = ""
    """libpq ``sslmode`` ('' = the DSN's or libpq's default ``prefer``)."""
    sslrootcert: str = ""
    extra_connect_kwargs: dict[str, Any] = field(default_factory=dict, repr=False)
    """More libpq keywords (e.g. ``target_session_attrs``)."""
    mode: str = "notify"
    """``notify`` (LISTEN + trigger) or ``poll`` (no trigger; replicas): settings ``connection.mode``."""
    poll_interval_s: float = 1.0
    """Poll mode: seconds between polls (settings ``connection.poll_interval_s``)."""
    photo_column: str = ""
    """A ``bytea`` column of ``miembros`` read into ``Member.photo_data`` ('' = none; settings ``photos.column``)."""
    photo_max_bytes: int = 5_000_000
    """Photos longer than this are not read (settings ``photos.max_bytes``)."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}: use notify or poll")
        if not 0.05 <= self.poll_interval_s <= 3600:
            raise ValueError("poll_interval_s must be between 0.05 and 3600 seconds")

    @classmethod
    def from_settings(cls, settings: Settings, *, dsn: str, password: str | None, **overrides: Any) -> EngineConfig:
        """The engine's part of the settings (``connection.channel``, ``sslmode``, ``sslrootcert``,
        ``connect_timeout_s``, ``mode``, ``poll_interval_s``; ``photos.column``, ``photos.max_bytes``), then
        ``overrides`` (any field). Raises ``ValueError`` for an unknown mode or an out-of-range interval."""
        conn, photos = settings.connection, settings.photos
        fields: dict[str, Any] = {
            "channel": conn.channel,
            "sslmode": conn.sslmode,
            "sslrootcert": conn.sslrootcert,
            "connect_timeout_s": float(conn.connect_timeout_s),
            "mode": conn.mode,
            "poll_interval_s": float(conn.poll_interval_s),
            "photo_column": photos.column,
            "photo_max_bytes": int(photos.max_bytes),
        }
        fields.update(overrides)
        return cls(dsn=dsn, password=password, **fields)
