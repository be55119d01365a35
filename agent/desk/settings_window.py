"""The settings window (Tkinter) for front-desk staff: the same as ``configure``, in a form.

Opened by ``python -m agent settings`` (the tray menu runs that as a separate process, so Tk owns its own main
thread and never meets pystray's loop; see :mod:`agent.desk.menu_deploy`). Fields: server, port, database, user,
channel, SSL mode, CA file, password (empty = keep the stored one) and "start with Windows / the session".
"Test connection" and "Save" run :func:`agent.cli.deploy.check_server` on a worker thread (the window stays
responsive); Save stores the password in the OS keyring and the settings in the per-user file only when the check
passes. Exit status of the process: 0 saved, 3 closed without saving, 1 Tk unavailable.

Threads: Tk calls only on the thread that created the window; the worker thread hands its result back through a
``queue.Queue`` polled with ``after``.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.core import config
from agent.core.config import ConfigError, Settings
from agent.core.i18n import tr

if TYPE_CHECKING:
    import tkinter as tk

    from agent.adapters.autostart_api import Autostart
    from agent.adapters.credentials_api import CredentialStore

EXIT_SAVED = 0
EXIT_NO_TK = 1
EXIT_CANCELLED = 3
FIELDS = ("host", "port", "database", "user", "channel", "sslmode", "sslrootcert")
POLL_MS = 50


@dataclass
class Outcome:
    """What the last Test/Save did: ``ok`` and the lines shown in the window."""

    ok: bool
    lines: list[str]
    saved: bool = False


class SettingsWindow:
    """The form on ``root``. ``store``/``autostart`` are the adapters chosen at start-up; ``settings`` the current
    effective settings (the form starts from them). ``on_close(saved)`` is called once when the window closes."""

    def __init__(
        self,
        root: tk.Tk,
        lang: str,
        settings: Settings,
        store: CredentialStore | None,
        autostart: Autostart | None,
        on_close: Callable[[bool], None],
        save_settings: Callable[[Settings], object] | None = None,
    ) -> None:
        import tkinter as tk
        from tkinter import ttk

        self.root = root
        self.lang = lang
        self.settings = settings
        self.store = store
        self.autostart = autostart
        self.on_close = on_close
        if save_settings is None:
            from agent.deploy.config_files import save_user

            save_settings = save_user
        self._save_settings = save_settings
        self._results: queue.Queue[Outcome] = queue.Queue()
        self.busy = False
        self.last: Outcome | None = None
        self.saved = False

        root.title(tr("settings.title", lang))
        frame = ttk.Frame(root, padding=12)
        frame.grid(sticky="nsew")
        self.vars: dict[str, tk.StringVar] = {}
        conn = settings.connection
        for row, name in enumerate(FIELDS):
            ttk.Label(frame, text=tr(f"configure.label.{name}", lang)).grid(row=row, column=0, sticky="w", pady=2)
            var = tk.StringVar(value=str(getattr(conn, name)))
            self.vars[name] = var
            if name == "sslmode":
                widget: Any = ttk.Combobox(frame, textvariable=var, values=config.SSLMODES, state="readonly")
            else:
                widget = ttk.Entry(frame, textvariable=var, width=36)
            widget.grid(row=row, column=1, sticky="ew", pady=2)
        row = len(FIELDS)
        ttk.Label(frame, text=tr("settings.password", lang)).grid(row=row, column=0, sticky="w", pady=2)
        self.password = tk.StringVar()
        self.password_entry = ttk.Entry(frame, textvariable=self.password, show="•", width=36)
        self.password_entry.grid(row=row, column=1, sticky="ew", pady=2)
        ttk.Label(frame, text=tr("settings.password_hint", lang)).grid(row=row + 1, column=1, sticky="w")
        self.autostart_on = tk.BooleanVar(value=self._autostart_enabled())
        self.autostart_check = ttk.Checkbutton(frame, text=tr("settings.autostart", lang), variable=self.autostart_on)
        self.autostart_check.grid(row=row + 2, column=0, columnspan=2, sticky="w", pady=(8, 2))
        self.status = tk.StringVar()
        ttk.Label(frame, textvariable=self.status, wraplength=420, justify="left").grid(
            row=row + 3, column=0, columnspan=2, sticky="w", pady=6
        )
        buttons = ttk.Frame(frame)
        buttons.grid(row=row + 4, column=0, columnspan=2, sticky="e")
        self.test_button = ttk.Button(buttons, text=tr("settings.test", lang), command=self.test_connection)
        self.save_button = ttk.Button(buttons, text=tr("settings.save", lang), command=self.save)
        self.cancel_button = ttk.Button(buttons, text=tr("settings.cancel", lang), command=self.cancel)
        for i, b in enumerate((self.test_button, self.save_button, self.cancel_button)):
            b.grid(row=0, column=i, padx=4)
        root.protocol("WM_DELETE_WINDOW", self.cancel)

    # -- form -> settings ---------------------------------------------------------------------------------------
    def _autostart_enabled(self) -> bool:
        try:
            return self.autostart is not None and self.autostart.status().enabled
        except OSError:
            return False

    def form_settings(self) -> Settings:
        """The settings the form describes. Raises :class:`ConfigError` (shown to the user by the callers)."""
        flat: dict[str, object] = {}
        for name, var in self.vars.items():
            key = f"connection.{name}"
            flat[key] = config.coerce(key, var.get())
        return config.from_mapping(
            flat, {k: tr(f"configure.label.{k.split('.')[1]}", self.lang) for k in flat}, base=self.settings
        )

    def _password_for(self, settings: Settings) -> str | None:
        typed = self.password.get()
        if typed:
            return typed
        if self.store is None:
            return None
        from agent.adapters.credentials_api import CredentialsError

        try:
            return self.store.get(config.credential_account(settings.connection))
        except CredentialsError:
            return None

    # -- actions (Tk thread) --------------------------------------------------------------------------------------
    def test_connection(self) -> None:
        self._run(save=False)

    def save(self) -> None:
        self._run(save=True)

    def cancel(self) -> None:
        self._close()

    def _run(self, save: bool) -> None:
        if self.busy:
            return
        try:
            settings = self.form_settings()
        except ConfigError as exc:
            self._show(Outcome(False, [exc.describe(self.lang)]))
            return
        password = self._password_for(settings)
        typed = bool(self.password.get())
        self.busy = True
        for b in (self.test_button, self.save_button):
            b.state(["disabled"])
        self.status.set(tr("configure.checking", self.lang, server=f"{settings.connection.host}"))
        worker = threading.Thread(
            target=self._work, args=(settings, password, typed, save), name="aviso-settings-check", daemon=True
        )
        worker.start()
        self.root.after(POLL_MS, self._poll)

    def _work(self, settings: Settings, password: str | None, typed: bool, save: bool) -> None:
        """Worker thread: check the server, and when saving store password + settings. No Tk calls here."""
        from agent.cli.deploy import check_server

        result = check_server(settings.connection, password, self.lang)
        outcome = Outcome(result.ok, list(result.lines))
        if result.ok and save and typed and self.store is None:
            outcome = Outcome(False, [*outcome.lines, tr("cred.unavailable", self.lang, detail="-")])
        elif result.ok and save:
            try:
                if typed and self.store is not None and password is not None:
                    self.store.set(config.credential_account(settings.connection), password)
                path = self._save_settings(settings)
                outcome.lines.append(tr("configure.saved_file", self.lang, path=path))
                outcome.saved = True
            except Exception as exc:  # keyring or file system: shown to the user, nothing else to do
                outcome = Outcome(False, [*outcome.lines, tr("configure.save_failed", self.lang, detail=str(exc))])
        self._results.put(outcome)

    def _poll(self) -> None:
        try:
            outcome = self._results.get_nowait()
        except queue.Empty:
            self.root.after(POLL_MS, self._poll)
            return
        self.busy = False
        for b in (self.test_button, self.save_button):
            b.state(["!disabled"])
        if outcome.saved:
            self._apply_autostart()
            outcome.lines.append(tr("settings.saved", self.lang))
            self.saved = True
        self._show(outcome)
        if outcome.saved:
            self.root.after(1200, self._close)

    def _apply_autostart(self) -> None:
        if self.autostart is None:
            return
        from agent.adapters.autostart_api import launch_command

        try:
            if self.autostart_on.get():
                self.autostart.enable(launch_command())
            else:
                self.autostart.disable()
        except OSError as exc:
            self.status.set(tr("autostart.failed", self.lang, detail=str(exc)))

    def _show(self, outcome: Outcome) -> None:
        self.last = outcome
        self.status.set("\n".join(outcome.lines))

    def _close(self) -> None:
        callback, self.on_close = self.on_close, lambda _saved: None
        callback(self.saved)
        self.root.destroy()


def run(lang: str) -> int:
    """Open the window and block until it closes; returns the process exit status (see the module docstring)."""
    try:
        import tkinter as tk

        root = tk.Tk()
    except Exception as exc:  # ImportError (no Tk in this Python) or TclError (no display)
        print(tr("settings.no_tk", lang, detail=f"{type(exc).__name__}: {exc}"), file=sys.stderr)
        return EXIT_NO_TK
    from agent.adapters.choose import autostart as open_autostart
    from agent.adapters.choose import credential_store
    from agent.adapters.credentials_api import CredentialsError
    from agent.deploy import config_files

    try:
        settings = config_files.load(use_env=False).settings
    except ConfigError:
        settings = Settings()
    store: CredentialStore | None
    try:
        store = credential_store()
    except CredentialsError as exc:
        store = None
        print(tr("cred.unavailable", lang, detail=exc.detail), file=sys.stderr)
    try:
        autostart: Autostart | None = open_autostart()
    except ValueError:
        autostart = None
    result: list[bool] = []
    SettingsWindow(root, lang, settings, store, autostart, on_close=result.append)
    root.mainloop()
    return EXIT_SAVED if result and result[0] else EXIT_CANCELLED
