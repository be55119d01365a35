"""The settings form of the local page: what ``configure`` does, behind two JSON calls (issue 13 item 6).

:meth:`SettingsForm.view` gives the current values (never the password: only whether one is stored).
:meth:`SettingsForm.submit` validates the form (:func:`agent.core.config.from_mapping`), finds the password (the
one typed, else the one stored for that server), runs the same checks as ``configure`` (``check``: connect with the
password, kit's trigger present on the configured channel) and, for ``save``, stores a typed password straight in
the keyring and the settings in the per-user file, applies "start with the session", then calls ``on_saved``.
Nothing is saved when a check fails. The password is never returned, logged or put in an exception text: lines
from the checks pass through :func:`agent.db.connect.redact` with it.

Threads: any; one submit at a time (a lock: a second concurrent submit is refused as busy).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent.core import config
from agent.core.config import ConfigError, ConnectionSettings, Settings
from agent.core.i18n import tr

if TYPE_CHECKING:
    from agent.adapters.autostart_api import Autostart
    from agent.adapters.credentials_api import CredentialStore

log = logging.getLogger(__name__)

CONNECTION_FIELDS = ("host", "port", "database", "user", "channel", "sslmode", "sslrootcert")
NOTIFICATION_FIELDS = ("only_warnings", "expiry_warning_days", "repeat_entry_warning_min", "click_action", "language")
MAX_TEXT = 1000
"""Longest text accepted in one field (a CA path, a click-action command)."""


NEW_CONFIG_SSLMODE = "require"
"""``sslmode`` of a new configuration, as ``configure`` gives it (``agent.cli.deploy.NEW_CONFIG_SSLMODE``; a test
keeps the two equal): the form starts from it when no settings file chose a mode."""


def new_configuration(settings: Settings) -> Settings:
    """``settings`` with :data:`NEW_CONFIG_SSLMODE` (nothing saved yet chose a TLS mode). Pure."""
    return dataclasses.replace(
        settings, connection=dataclasses.replace(settings.connection, sslmode=NEW_CONFIG_SSLMODE)
    )


def load_as_configure(env: Mapping[str, str] | None = None) -> Settings:
    """The settings the form starts from, read as ``configure`` reads them: the files only (not the environment:
    overrides must not be written into the user file); a broken file is ignored (the form is how people repair
    it); a new configuration gets :data:`NEW_CONFIG_SSLMODE`. ``env``: where the file paths come from (tests)."""
    from agent.deploy import config_files

    try:
        loaded = config_files.load(env=env, use_env=False)
    except ConfigError:
        return new_configuration(Settings())
    if "connection.sslmode" in loaded.sources or config_files.user_file(env).exists():
        return loaded.settings
    return new_configuration(loaded.settings)


class CheckOutcome(Protocol):
    """What ``check`` returns (:class:`agent.cli.deploy.CheckResult`): ``ok`` and translated ``lines``."""

    ok: bool
    lines: list[str]


Check = Callable[[ConnectionSettings, "str | None", str], CheckOutcome]


@dataclass
class SettingsForm:
    """The form's back end. ``check`` is ``configure``'s check (:func:`agent.cli.deploy.check_server`, injected so
    that this package does not import the command layer); ``store``/``autostart`` the adapters (None: not
    available here); ``load``/``save`` read and write the per-user settings."""

    lang: str
    check: Check
    load: Callable[[], Settings]
    save: Callable[[Settings], Path]
    store: Callable[[], CredentialStore]
    """Opens the credential store; raises ``CredentialsError`` when there is none (shown to the user)."""
    autostart: Autostart | None = None
    on_saved: Callable[[Settings], None] = lambda _settings: None
    _busy: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def default(cls, lang: str, check: Check, on_saved: Callable[[Settings], None] | None = None) -> SettingsForm:
        """The form on this machine's settings file, OS keyring and autostart."""
        from agent.adapters.choose import autostart as open_autostart
        from agent.adapters.choose import credential_store as open_store
        from agent.deploy import config_files

        opened: list[CredentialStore] = []

        def store() -> CredentialStore:  # chosen once, on first use (a failure is retried at the next submit)
            if not opened:
                opened.append(open_store())
            return opened[0]

        try:
            autostart: Autostart | None = open_autostart()
        except ValueError:
            autostart = None
        return cls(
            lang=lang,
            check=check,
            load=load_as_configure,
            save=config_files.save_user,
            store=store,
            autostart=autostart,
            on_saved=on_saved or (lambda _settings: None),
        )

    # -- GET ---------------------------------------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        """Current values for the form: ``connection`` and ``notifications`` fields, ``password_stored`` (bool or
        None when the keyring cannot be read), ``autostart`` (bool or None), ``sslmodes``, ``languages``."""
        settings = self.load()
        conn, notif = settings.connection, settings.notifications
        stored: bool | None
        try:
            stored = self.store().get(config.credential_account(conn)) is not None
        except Exception:
            stored = None
        return {
            "connection": {name: getattr(conn, name) for name in CONNECTION_FIELDS},
            "notifications": {name: getattr(notif, name) for name in NOTIFICATION_FIELDS},
            "password_stored": stored,
            "autostart": self._autostart_enabled(),
            "sslmodes": list(config.SSLMODES),
            "languages": ["es", "en"],
        }

    def _autostart_enabled(self) -> bool | None:
        try:
            return None if self.autostart is None else self.autostart.status().enabled
        except OSError:
            return None

    # -- POST --------------------------------------------------------------------------------------------------
    def submit(self, form: Mapping[str, Any], *, save: bool) -> dict[str, Any]:
        """Check (and with ``save`` store) the form. Returns ``{"ok", "saved", "lines", "busy"}`` (no password)."""
        if not self._busy.acquire(blocking=False):
            return {"ok": False, "saved": False, "busy": True, "lines": [tr("web.page.busy", self.lang)]}
        typed = form.get("password")
        password: str | None = typed if isinstance(typed, str) and typed else None
        try:
            lines, ok, saved = self._submit(form, password, save)
        except Exception as exc:  # keyring or file system trouble: shown, nothing else to do
            lines, ok, saved = [tr("configure.save_failed", self.lang, detail=type(exc).__name__)], False, False
            log.warning("settings form: %s", type(exc).__name__)
        finally:
            self._busy.release()
        from agent.db.connect import redact

        return {"ok": ok, "saved": saved, "busy": False, "lines": [redact(line, password) for line in lines]}

    def _submit(self, form: Mapping[str, Any], typed: str | None, save: bool) -> tuple[list[str], bool, bool]:
        from agent.adapters.credentials_api import CredentialsError

        try:
            settings = self.settings_of(form)
        except ConfigError as exc:
            return [exc.describe(self.lang)], False, False
        account = config.credential_account(settings.connection)
        try:
            store = self.store()
            password = typed if typed is not None else store.get(account)
        except CredentialsError as exc:
            return [tr("cred.unavailable", self.lang, detail=exc.detail)], False, False
        if password is None:
            return [tr("configure.no_password", self.lang, account=account)], False, False
        lines = [tr("configure.checking", self.lang, server=_server(settings.connection))]
        result = self.check(settings.connection, password, self.lang)
        lines += list(result.lines)
        if not result.ok:
            return [*lines, tr("configure.not_saved", self.lang)], False, False
        if not save:
            return lines, True, False
        if typed is not None:
            store.set(account, typed)
        path = self.save(settings)
        lines.append(tr("configure.saved_file", self.lang, path=path))
        if typed is not None:
            lines.append(
                tr(
                    "configure.saved_password",
                    self.lang,
                    backend=store.backend_name,
                    service=config.CREDENTIAL_SERVICE,
                    account=account,
                )
            )
        lines += self._apply_autostart(form.get("autostart"))
        log.info("settings saved from the local page (%s)", _server(settings.connection))
        self.on_saved(settings)
        lines.append(tr("settings.saved", self.lang))
        return lines, True, True

    def settings_of(self, form: Mapping[str, Any]) -> Settings:
        """The settings the form describes over the current ones. Raises :class:`ConfigError` (every problem)."""
        flat: dict[str, object] = {}
        labels: dict[str, str] = {}
        for section, names in (("connection", CONNECTION_FIELDS), ("notifications", NOTIFICATION_FIELDS)):
            values = form.get(section)
            if not isinstance(values, Mapping):
                continue
            for name in names:
                if name not in values:
                    continue
                key, value = f"{section}.{name}", values[name]
                if isinstance(value, str):
                    value = config.coerce(key, value[:MAX_TEXT]) if config.known_keys()[key] != "str" else value
                flat[key] = value
                labels[key] = _label(key, self.lang)
        return config.from_mapping(flat, labels, base=self.load())

    def _apply_autostart(self, wanted: object) -> list[str]:
        if self.autostart is None or not isinstance(wanted, bool):
            return []
        from agent.adapters.autostart_api import launch_command

        try:
            if wanted:
                self.autostart.enable(launch_command())
            else:
                self.autostart.disable()
        except OSError as exc:
            return [tr("autostart.failed", self.lang, detail=str(exc))]
        return []


def _server(conn: ConnectionSettings) -> str:
    return f"{conn.host}:{conn.port}/{conn.database}"


def _label(key: str, lang: str) -> str:
    section, name = key.split(".", 1)
    if section == "connection":
        return tr(f"configure.label.{name}", lang)
    return tr(
        {
            "only_warnings": "web.page.only_warnings",
            "expiry_warning_days": "web.page.expiry_days",
            "repeat_entry_warning_min": "web.page.repeat_min",
            "click_action": "web.page.click_action",
            "language": "web.page.language",
        }[name],
        lang,
    )
