"""Settings from TOML files and the environment, with one documented precedence; writing the per-user file.

Precedence, lowest to highest (a later source overrides single keys of an earlier one):

1. defaults (:mod:`agent.core.config`, the one defaults table);
2. the machine-wide file for IT: ``%PROGRAMDATA%\\AvisoEntradas\\config.toml`` on Windows,
   ``/etc/xdg/AvisoEntradas/config.toml`` on Linux (first entry of ``$XDG_CONFIG_DIRS``);
3. the per-user file, written by ``configure`` and the settings window:
   ``%LOCALAPPDATA%\\AvisoEntradas\\config.toml`` on Windows, ``~/.config/AvisoEntradas/config.toml`` on Linux;
4. environment variables ``AVISO_<SECTION>_<KEY>`` (``AVISO_CONNECTION_HOST``, ``AVISO_LOG_LEVEL``...);
5. command-line options of the command being run.

``AVISO_CONFIG_FILE`` and ``AVISO_MACHINE_CONFIG_FILE`` replace the two file paths (tests, portable installs).
Directories come from platformdirs (``user_config_dir``/``site_config_dir``/``user_log_dir``, appauthor off).
The password is never in any of these: see :mod:`agent.adapters.credentials_api`.

Which thread: any; every function reads or writes files synchronously and keeps no state.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from agent import APP_ID
from agent.core import config
from agent.core.config import ConfigError, ConfigIssue, Settings
from agent.deploy.atomic import write_text_atomic

FILE_NAME = "config.toml"
ENV_PREFIX = "AVISO_"
ENV_USER_FILE = "AVISO_CONFIG_FILE"
ENV_MACHINE_FILE = "AVISO_MACHINE_CONFIG_FILE"


def user_file(env: Mapping[str, str] | None = None) -> Path:
    """The per-user config file (may not exist yet)."""
    env = os.environ if env is None else env
    if env.get(ENV_USER_FILE):
        return Path(env[ENV_USER_FILE])
    return Path(platformdirs.user_config_dir(APP_ID, appauthor=False, roaming=False)) / FILE_NAME


def machine_file(env: Mapping[str, str] | None = None) -> Path:
    """The machine-wide config file for IT (may not exist)."""
    env = os.environ if env is None else env
    if env.get(ENV_MACHINE_FILE):
        return Path(env[ENV_MACHINE_FILE])
    return Path(platformdirs.site_config_dir(APP_ID, appauthor=False, multipath=False)) / FILE_NAME


def log_dir() -> Path:
    """Where the agent's log files go: ``%LOCALAPPDATA%\\AvisoEntradas\\Logs``, ``~/.local/state/AvisoEntradas/log``."""
    return Path(platformdirs.user_log_dir(APP_ID, appauthor=False))


def state_dir() -> Path:
    """Per-user state (the delivery cursor): ``%LOCALAPPDATA%\\AvisoEntradas``, ``~/.local/state/AvisoEntradas``."""
    return Path(platformdirs.user_state_dir(APP_ID, appauthor=False))


def env_var(key: str) -> str:
    """The environment variable that overrides dotted ``key``: ``connection.host`` -> ``AVISO_CONNECTION_HOST``."""
    return ENV_PREFIX + key.replace(".", "_").upper()


@dataclass(frozen=True)
class Loaded:
    """The effective settings and where each non-default value came from (dotted key -> file path or variable)."""

    settings: Settings
    sources: dict[str, str] = field(default_factory=dict)
    files: tuple[Path, ...] = ()
    """The config files that existed and were read, lowest precedence first."""


def read_file(path: Path) -> dict[str, Any]:
    """The flattened (dotted keys) content of a TOML file; ``{}`` when it does not exist.

    Raises :class:`ConfigError` when it cannot be read or is not valid TOML (with the line and column).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError([ConfigIssue("", "config.unreadable", (("detail", str(exc)),), str(path))]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue("", "config.bad_toml", (("detail", str(exc)),), str(path))]) from None
    return config.flatten(data)


def read_env(env: Mapping[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """Overrides from ``AVISO_<SECTION>_<KEY>`` variables: (dotted key -> typed value, dotted key -> variable)."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    for key in config.known_keys():
        var = env_var(key)
        if var in env:
            try:
                values[key] = config.coerce(key, env[var])
            except ConfigError as exc:
                issues.extend(ConfigIssue(i.key, i.message_key, i.fields, var) for i in exc.issues)
            sources[key] = var
    if issues:
        raise ConfigError(issues)
    return values, sources


def load(
    env: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None, *, use_env: bool = True
) -> Loaded:
    """Settings from defaults, machine file, user file, environment and ``overrides`` (dotted keys), validated.

    Raises :class:`ConfigError` listing every problem of every source, each with its source.
    """
    env = os.environ if env is None else env
    merged: dict[str, object] = {}
    sources: dict[str, str] = {}
    files: list[Path] = []
    issues: list[ConfigIssue] = []
    for path in (machine_file(env), user_file(env)):
        try:
            flat = read_file(path)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        if path.exists():
            files.append(path)
        merged.update(flat)
        sources.update(dict.fromkeys(flat, str(path)))
    if use_env:
        try:
            values, env_sources = read_env(env)
        except ConfigError as exc:
            issues.extend(exc.issues)
        else:
            merged.update(values)
            sources.update(env_sources)
    for key, value in (overrides or {}).items():
        merged[key] = value
        sources[key] = "--" + key.split(".")[-1].replace("_", "-")
    try:
        settings = config.from_mapping(merged, sources)
    except ConfigError as exc:
        issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return Loaded(settings, sources, tuple(files))


def save_user(settings: Settings, env: Mapping[str, str] | None = None) -> Path:
    """Write ``settings`` to the per-user file; returns its path.

    Only what the user layer must contribute is written: keys whose value differs from defaults + the machine
    file, plus keys the user file already had. So a machine-wide value IT changes later still applies to every
    user who did not choose otherwise. The write is atomic (a temporary file of its own + ``os.replace``), so a
    reader never sees half a file and two writers (``configure`` and the settings page) never mix; on Linux the
    file is created ``0600``. Raises ``OSError`` when it cannot be written.
    """
    path = user_file(env)
    try:
        baseline = config.from_mapping(read_file(machine_file(env)))
    except ConfigError:
        baseline = Settings()
    try:
        existing = read_file(path)
    except ConfigError:
        existing = {}
    base_flat = config.flatten(config.to_mapping(baseline))
    keep = {
        key: value
        for key, value in config.flatten(config.to_mapping(settings)).items()
        if key in existing or value != base_flat.get(key)
    }
    nested: dict[str, Any] = {}
    for key, value in keep.items():
        if "." in key:
            section, name = key.split(".", 1)
            nested.setdefault(section, {})[name] = value
        else:
            nested[key] = value
    header = (
        "# Aviso de Entradas settings for this user (written by `configure` / the settings page).\n"
        "# Only values that differ from the defaults and the machine-wide file are listed; see docs/it-deployment.md\n"
        "# 'Settings' for every key. The database password is not here: it is in the OS keyring.\n"
    )
    text = header + tomli_w.dumps(nested)
    write_text_atomic(path, text, encoding="utf-8")  # 0600 on POSIX; a temporary file per writer
    return path


def describe_sources(loaded: Loaded) -> list[str]:
    """``key = value  (source)`` lines of the effective settings, for ``configure --show`` and ``doctor``."""
    flat = config.flatten(config.to_mapping(loaded.settings))
    return [f"{key} = {flat[key]!r}  ({loaded.sources.get(key, 'default')})" for key in config.known_keys()]
