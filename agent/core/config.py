"""Settings: one frozen dataclass per section, with the defaults table in one place (units in the names). Pure.

Reading TOML files and the environment, and the precedence between them, live in :mod:`agent.deploy.config_files`.
This module holds the shapes, the defaults, the validation (:func:`from_mapping`, which turns a nested mapping as
read from TOML into :class:`Settings` or raises :class:`ConfigError` listing every problem), and the keyring
account name of a server (:func:`credential_account`). No I/O; any thread.

TOML layout (sections and keys are exactly the dataclass fields below)::

    log_level = "INFO"
    [connection]
    host = "192.168.1.50"
    port = 5432
    [notifications]
    flood_max_count = 4
    [pause]
    short_pause_min = 15
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.core import names
from agent.core.i18n import LANGUAGES, tr


@dataclass(frozen=True)
class ConnectionSettings:
    """Where the turnstile database is. The password is not here: it lives in the OS keyring only."""

    host: str = "localhost"
    port: int = 5432
    database: str = "torniquete_db"
    user: str = names.ROLE
    channel: str = names.DEFAULT_CHANNEL
    sslmode: str = "prefer"
    """libpq ``sslmode`` (PostgreSQL docs, "SSL Support": disable, allow, prefer, require, verify-ca, verify-full)."""
    sslrootcert: str = ""
    """Path of the CA certificate file for ``verify-ca``/``verify-full``, or ``system`` (the OS's trusted CAs, with
    ``verify-full``: :mod:`agent.deploy.tls`). Empty: no CA file under ``allow``/``prefer``/``require`` (a stale
    default ``root.crt`` is ignored: :data:`agent.db.connect.NO_ROOT_CERT`), libpq's default file under verify-*."""
    connect_timeout_s: int = 5
    """libpq ``connect_timeout`` (PostgreSQL docs, "Parameter Key Words"), seconds."""
    mode: str = "notify"
    """How entries reach the agent: ``notify`` (LISTEN on ``channel``; needs the kit's trigger) or ``poll`` (one
    index-backed query every ``poll_interval_s``; needs only SELECT, works against a hot-standby replica)."""
    poll_interval_s: float = 1.0
    """Seconds between two polls in ``poll`` mode."""


@dataclass(frozen=True)
class NotificationSettings:
    """What pops up, and how many."""

    flood_max_count: int = 4
    """At most this many notifications per ``flood_window_s``; beyond that one summary."""
    flood_window_s: float = 30.0
    expiry_warning_days: int = 7
    click_action: str = ""
    """URL or command template run when a notification is clicked; ``{id_miembro}`` is replaced."""
    language: str = "es"
    only_warnings: bool = False
    """Warnings-only mode: normal granted entries do not pop up (they still count and are listed); denied,
    expired, debt and repeat-entry notices still do."""
    repeat_entry_warning_min: int = 60
    """A member entering again within this many minutes of a granted entry gets a repeat-entry warning (possible
    shared card); 0 turns the warning off."""


@dataclass(frozen=True)
class PhotoSettings:
    """Member photos (``miembros.foto_url`` as a local path or ``http(s)://`` URL, or a ``bytea`` column)."""

    budget_ms: int = 800
    """Longest wait for a photo before its notice is shown without it (the photo is cached for next time)."""
    max_bytes: int = 5_000_000
    """Largest photo download accepted, bytes."""
    cache_max_age_days: int = 7
    """A cached photo older than this is fetched again."""
    cache_max_mb: int = 200
    """Size bound of the photo cache folder, MB (oldest files removed first)."""
    column: str = ""
    """Name of a ``bytea`` photo column of ``miembros`` to read instead of ``foto_url`` (empty: none)."""


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
    photos: PhotoSettings = field(default_factory=PhotoSettings)
    log_level: str = "INFO"


SECTIONS: dict[str, type[Any]] = {
    "connection": ConnectionSettings,
    "notifications": NotificationSettings,
    "pause": PauseSettings,
    "photos": PhotoSettings,
}
"""TOML table name -> dataclass. Top-level keys (``log_level``) are the non-section fields of :class:`Settings`."""

TOP_LEVEL_KEYS = ("log_level",)

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""PostgreSQL docs, "Parameter Key Words", ``sslmode``."""
CONNECTION_MODES = ("notify", "poll")
"""``connection.mode`` values (see :class:`ConnectionSettings`)."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_IDENTIFIER_BYTES = 63
"""NAMEDATALEN - 1 (PostgreSQL docs, "Identifiers and Key Words"): longer channel names are truncated by LISTEN."""

# Per-field limits: (minimum, maximum) inclusive; None = unbounded.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "connection.port": (1, 65535),
    "connection.connect_timeout_s": (1, 300),
    "connection.poll_interval_s": (0.1, 3600),
    "notifications.repeat_entry_warning_min": (0, 24 * 60),
    "photos.budget_ms": (0, 10_000),
    "photos.max_bytes": (1_000, 100_000_000),
    "photos.cache_max_age_days": (0, 3650),
    "photos.cache_max_mb": (1, 100_000),
    "notifications.flood_max_count": (1, 1000),
    "notifications.flood_window_s": (0.1, 3600),
    "notifications.expiry_warning_days": (0, 365),
    "pause.short_pause_min": (1, 24 * 60),
    "pause.long_pause_min": (1, 24 * 60),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "connection.sslmode": SSLMODES,
    "connection.mode": CONNECTION_MODES,
    "notifications.language": LANGUAGES,
    "log_level": LOG_LEVELS,
}
_NON_EMPTY = ("connection.host", "connection.database", "connection.user", "connection.channel")


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: ``key`` is the dotted setting name (``connection.port``); ``message_key`` is an i18n key."""

    key: str
    message_key: str
    fields: tuple[tuple[str, str], ...] = ()
    source: str = ""
    """Where the value came from (file path, ``AVISO_...`` variable, command line); empty when unknown."""

    def describe(self, lang: str) -> str:
        """The translated sentence for people, naming the setting, the value and what is expected."""
        text = tr(self.message_key, lang, setting=self.key, **dict(self.fields))
        return tr("config.issue_source", lang, text=text, source=self.source) if self.source else text


class ConfigError(ValueError):
    """Settings that cannot be used. ``issues`` lists every problem found (not just the first)."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("; ".join(i.describe("en") for i in issues))
        self.issues = issues

    def describe(self, lang: str) -> str:
        """All problems, one per line, translated."""
        return "\n".join(i.describe(lang) for i in self.issues)


def defaults_table() -> list[tuple[str, str, object]]:
    """``(dotted key, type name, default)`` for every setting, in file order. The single defaults table."""
    rows: list[tuple[str, str, object]] = []
    for key in TOP_LEVEL_KEYS:
        f = next(f for f in dataclasses.fields(Settings) if f.name == key)
        rows.append((key, _type_name(f.type), f.default))
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            rows.append((f"{section}.{f.name}", _type_name(f.type), f.default))
    return rows


def known_keys() -> dict[str, str]:
    """Dotted key -> type name (``str``, ``int``, ``float``, ``bool``) of every setting."""
    return {key: typ for key, typ, _ in defaults_table()}


def _type_name(t: object) -> str:
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))


def to_mapping(settings: Settings) -> dict[str, Any]:
    """The nested TOML-shaped mapping of ``settings`` (every key, defaults included)."""
    out: dict[str, Any] = {key: getattr(settings, key) for key in TOP_LEVEL_KEYS}
    for section in SECTIONS:
        out[section] = dataclasses.asdict(getattr(settings, section))
    return out


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """``{"connection": {"port": 1}}`` -> ``{"connection.port": 1}``. Unknown shapes are kept for validation."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, Mapping):
            for sub, v in value.items():
                flat[f"{key}.{sub}"] = v
        else:
            flat[key] = value
    return flat


def coerce(key: str, text: str) -> object:
    """Convert text (an environment variable or a prompt answer) to the type of setting ``key``.

    Raises :class:`ConfigError` for an unknown key or text that is not a number where one is expected.
    """
    typ = known_keys().get(key)
    if typ is None:
        raise ConfigError([ConfigIssue(key, "config.unknown_key")])
    if typ == "bool":
        word = text.strip().lower()
        if word in ("1", "true", "yes", "on", "si", "sí"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
        raise ConfigError([ConfigIssue(key, "config.wrong_type", (("value", text), ("expected", "true/false")))])
    try:
        if typ == "int":
            return int(text.strip())
        if typ == "float":
            return float(text.strip())
    except ValueError:
        raise ConfigError([ConfigIssue(key, "config.not_a_number", (("value", text),))]) from None
    return text


def from_mapping(
    flat: Mapping[str, object], sources: Mapping[str, str] | None = None, base: Settings | None = None
) -> Settings:
    """Validate ``flat`` (dotted keys, see :func:`flatten`) over ``base`` (defaults) and build :class:`Settings`.

    Raises :class:`ConfigError` listing every unknown key, wrong type, out-of-range number or unknown choice;
    ``sources`` (dotted key -> where it came from) is copied into each issue so people know what to fix.
    """
    sources = sources or {}
    base = base or Settings()
    types = known_keys()
    issues: list[ConfigIssue] = []
    values: dict[str, object] = {}
    for key, value in flat.items():
        src = sources.get(key, "")
        typ = types.get(key)
        if typ is None:
            issues.append(ConfigIssue(key, "config.unknown_key", source=src))
            continue
        checked = _check(key, typ, value)
        if isinstance(checked, ConfigIssue):
            issues.append(dataclasses.replace(checked, source=src))
        else:
            values[key] = checked
    if issues:
        raise ConfigError(issues)
    sections: dict[str, Any] = {}
    for section in SECTIONS:
        current = getattr(base, section)
        changes = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(section + ".")}
        sections[section] = dataclasses.replace(current, **changes) if changes else current
    top: dict[str, Any] = {k: v for k, v in values.items() if k in TOP_LEVEL_KEYS}
    return dataclasses.replace(base, **sections, **top)


def _check(key: str, typ: str, value: object) -> object:
    """The value converted to its type, or a :class:`ConfigIssue`."""
    shown = (("value", repr(value)),)
    if typ == "str":
        if not isinstance(value, str):
            return ConfigIssue(key, "config.wrong_type", (*shown, ("expected", "text")))
        text = value.strip()
        if key in _NON_EMPTY and not text:
            return ConfigIssue(key, "config.empty")
        if key in _CHOICES:
            if key == "log_level":
                text = text.upper()
            if text not in _CHOICES[key]:
                return ConfigIssue(key, "config.not_a_choice", (*shown, ("choices", ", ".join(_CHOICES[key]))))
        if key == "connection.channel" and len(text.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
            return ConfigIssue(key, "config.channel_too_long", (*shown, ("max", str(MAX_IDENTIFIER_BYTES))))
        return text
    if typ == "bool":
        if not isinstance(value, bool):
            return ConfigIssue(key, "config.wrong_type", (*shown, ("expected", "true/false")))
        return value
    # bool is an int subclass: TOML `true` is never a valid number here.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ConfigIssue(key, "config.wrong_type", (*shown, ("expected", "number")))
    if typ == "int" and isinstance(value, float):
        if not value.is_integer():
            return ConfigIssue(key, "config.wrong_type", (*shown, ("expected", "whole number")))
        value = int(value)
    number: int | float = int(value) if typ == "int" else float(value)
    if number != number:  # NaN (TOML ``nan``, ``float("nan")``): every range comparison below would be false
        return ConfigIssue(key, "config.not_a_number", shown)
    low, high = _RANGES.get(key, (None, None))
    if (low is not None and number < low) or (high is not None and number > high):
        return ConfigIssue(key, "config.out_of_range", (*shown, ("min", f"{low:g}"), ("max", f"{high:g}")))
    return number


def credential_account(conn: ConnectionSettings) -> str:
    """The keyring *username* under which this server's password is stored: ``user@host:port/database``.

    It names the server, so two turnstile databases (or two roles) keep separate passwords. The keyring *service*
    is :data:`CREDENTIAL_SERVICE`.
    """
    return f"{conn.user}@{conn.host}:{conn.port}/{conn.database}"


CREDENTIAL_SERVICE = "AvisoEntradas"
"""The keyring service name (Windows Credential Manager shows the entry as ``<account>@AvisoEntradas``)."""
