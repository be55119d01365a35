"""Settings: one frozen dataclass per section, with the defaults table in one place (units in the names). Pure.

Loading from TOML files and the environment, precedence and validation live with the deployment area
(``agent.config_files``); this module only holds the shapes and defaults every other area reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.core import names


@dataclass(frozen=True)
class ConnectionSettings:
    """Where the turnstile database is. The password is not here: it lives in the OS keyring only."""

    host: str = "localhost"
    port: int = 5432
    database: str = "torniquete_db"
    user: str = names.ROLE
    channel: str = names.DEFAULT_CHANNEL
    sslmode: str = "prefer"
    sslrootcert: str = ""
    connect_timeout_s: int = 5
    """libpq ``connect_timeout`` (PostgreSQL docs, "Parameter Key Words"), seconds."""


@dataclass(frozen=True)
class NotificationSettings:
    """What pops up, and how many."""

    flood_max_count: int = 5
    """At most this many notifications per ``flood_window_s``; beyond that one summary."""
    flood_window_s: float = 30.0
    expiry_warning_days: int = 7
    click_action: str = ""
    """URL or command template run when a notification is clicked; ``{id_miembro}`` is replaced."""
    language: str = "es"


@dataclass(frozen=True)
class PauseSettings:
    """Pause menu choices, minutes."""

    short_pause_min: int = 15
    long_pause_min: int = 60


@dataclass(frozen=True)
class Settings:
    """All settings. Build with ``Settings()`` for the defaults."""

    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    pause: PauseSettings = field(default_factory=PauseSettings)
    log_level: str = "INFO"
