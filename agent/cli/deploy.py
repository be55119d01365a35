"""``configure`` and ``autostart``: the deploy area's subcommands. Handlers run on the main thread.

``configure`` is silent when given options (IT scripts) and interactive in a terminal otherwise. A new
configuration gets ``sslmode = require`` (:data:`NEW_CONFIG_SSLMODE`). It always tests the connection with the
password and checks that our trigger is installed (and notifies on the configured
channel) **before** saving anything: the settings file (:mod:`agent.deploy.config_files`) and the password in the OS
keyring (:mod:`agent.adapters.credentials_api`), through the one connection path (:mod:`agent.deploy.connection`:
bounded keyring calls, distinct keyring states). Exit codes: 0 saved / shown, 1 check, keyring or save failed
(nothing saved), 2 usage, invalid settings or no password given or stored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agent.core import config
from agent.core.config import ConfigError, ConnectionSettings, Settings
from agent.core.i18n import tr

# re-exported: the command layer's names for configure's checks (the settings page gets check_server injected)
from agent.deploy.server_check import CheckResult as CheckResult
from agent.deploy.server_check import check_server as check_server

AddArg = Callable[[argparse.ArgumentParser], None]

CONNECTION_FIELDS = ("host", "port", "database", "user", "channel", "sslmode", "sslrootcert")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add ``configure`` and ``autostart`` to ``sub``."""
    p = sub.add_parser(
        "configure",
        help="set the connection (tests it, then saves the settings file and the password in the OS keyring)",
        description="Silent with options (for IT scripts), interactive in a terminal without them.",
    )
    p.add_argument("--host", help="turnstile PostgreSQL server (IP or name)")
    p.add_argument("--port", help="TCP port (default 5432)")
    p.add_argument("--database", help="database name (default torniquete_db)")
    p.add_argument("--user", help="role (default pos_user)")
    p.add_argument("--channel", help="NOTIFY channel (default nueva_entrada_canal)")
    p.add_argument(
        "--sslmode",
        help="libpq sslmode: " + ", ".join(config.SSLMODES) + " (a new configuration gets require; an existing "
        "one keeps its mode)",
    )
    p.add_argument(
        "--sslrootcert",
        help="CA certificate file for verify-ca / verify-full, or 'system' (the OS's trusted CAs; needs verify-full)",
    )
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of standard input"
    )
    p.add_argument("--show", action="store_true", help="print the effective settings and their sources; change nothing")
    p.add_argument(
        "--forget-password",
        action="store_true",
        help="remove the stored password of the configured server (or of the one --host/--port/--database/--user name)",
    )
    p.set_defaults(handler=_cmd_configure)

    p = sub.add_parser("autostart", help="start the agent at login: on, off or status")
    p.add_argument("action", choices=("on", "off", "status"))
    p.set_defaults(handler=_cmd_autostart)

    p = sub.add_parser(
        "settings",
        help="the settings page in the browser (a local page, docs/desk-page.md); exit 0 saved, 3 closed without "
        "saving, 1 the page could not be served",
        description="Serves the local page with the settings form, prints its address and opens it in the default "
        "browser; waits until the settings are saved (exit 0) or the page is closed (exit 3).",
    )
    p.add_argument("--no-browser", action="store_true", help="only print the page's address (e.g. over SSH)")
    p.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="give up after this long without saving (exit 3)"
    )
    p.set_defaults(handler=_cmd_settings)


def _cmd_settings(args: argparse.Namespace) -> int:
    from agent.web.standalone import run_settings

    return run_settings(
        args.lang, check=check_server, reader=_today_reader(), open_browser=not args.no_browser, timeout_s=args.timeout
    )


def _today_reader() -> Callable[..., list[Any]] | None:
    """Today's entries from the configured server for the settings page's list (None: not configured yet, or the
    settings are invalid; the page then lists nothing and the form still works)."""
    from agent.deploy.connection import ConnectionSetupError, configured_settings, resolve
    from agent.web.page import table_reader

    try:
        params = resolve(configured_settings().connection)
    except ConnectionSetupError:
        return None
    return table_reader(params.connect_kwargs(application_name="aviso-entradas page"))


# ------------------------------------------------------------------------------------------------ configure

NEW_CONFIG_SSLMODE = "require"
"""``sslmode`` written by ``configure`` for a new configuration (no user file, no machine-wide value): encrypted,
never silently plain. An existing configuration keeps its mode (e.g. ``prefer``)."""


def _base_settings(lang: str) -> Settings:
    """Settings from the files (not the environment: overrides must not be written into the user file), with
    :data:`NEW_CONFIG_SSLMODE` for a new configuration. A broken file is reported and ignored, since
    ``configure`` is how people repair it."""
    from agent.deploy import config_files

    try:
        loaded = config_files.load(use_env=False)
    except ConfigError as exc:
        print(tr("config.invalid_header", lang) + "\n" + exc.describe(lang), file=sys.stderr)
        return Settings()
    settings = loaded.settings
    if "connection.sslmode" not in loaded.sources and not config_files.user_file().exists():
        settings = replace(settings, connection=replace(settings.connection, sslmode=NEW_CONFIG_SSLMODE))
    return settings


def _absolute_rootcert(overrides: dict[str, object]) -> None:
    """Make a given ``connection.sslrootcert`` path absolute (``~`` expanded), in place: libpq reads a relative path
    from the working folder, which is where ``configure`` ran, not where the agent will start at login. ``system``
    and '' are kept."""
    import os

    value = overrides.get("connection.sslrootcert")
    if isinstance(value, str) and value.strip() and value.strip().lower() != "system":
        overrides["connection.sslrootcert"] = os.path.abspath(os.path.expanduser(value.strip()))


def _interactive(base: ConnectionSettings, lang: str) -> tuple[dict[str, object], str | None]:
    """Ask for each connection field (current value as default) and the password (empty = keep)."""
    import getpass

    answers: dict[str, object] = {}
    for name in CONNECTION_FIELDS:
        current = getattr(base, name)
        label = tr(f"configure.label.{name}", lang)
        text = input(tr("configure.prompt", lang, label=label, current=current)).strip()
        if text:
            answers[f"connection.{name}"] = config.coerce(f"connection.{name}", text)
    user = str(answers.get("connection.user", base.user))
    password = getpass.getpass(tr("configure.password_prompt", lang, user=user))
    return answers, (password or None)


def _cmd_configure(args: argparse.Namespace) -> int:
    from agent.deploy import config_files
    from agent.deploy.connection import (
        ConnectionSetupError,
        KeyringProblem,
        NoPasswordStored,
        open_keyring,
        read_secret_line,
        resolve,
        store_password,
    )

    lang: str = args.lang
    if args.show:
        return _show(lang)
    base = _base_settings(lang)

    given = {f"connection.{n}": getattr(args, n) for n in CONNECTION_FIELDS if getattr(args, n) is not None}
    if args.forget_password:  # the options pick the account (e.g. an old server's), else the configured one
        try:
            target = config.from_mapping({k: config.coerce(k, str(v)) for k, v in given.items()}, {}, base=base)
        except ConfigError as exc:
            print(tr("config.invalid_header", lang) + "\n" + exc.describe(lang), file=sys.stderr)
            return 2
        return _forget(target.connection, lang)
    password: str | None = None
    try:
        if given or args.password_stdin:
            overrides: dict[str, object] = {k: config.coerce(k, str(v)) for k, v in given.items()}
            if args.password_stdin:
                user = str(overrides.get("connection.user", base.connection.user))
                password = read_secret_line(tr("configure.password_prompt", lang, user=user)) or None
        elif sys.stdin is not None and sys.stdin.isatty():  # None: a windowed exe without a console
            overrides, password = _interactive(base.connection, lang)
        else:
            print(tr("configure.need_input", lang), file=sys.stderr)
            return 2
        _absolute_rootcert(overrides)
        sources = {k: "--" + k.split(".", 1)[1] for k in overrides}
        settings = config.from_mapping(overrides, sources, base=base)
    except ConfigError as exc:
        print(tr("config.invalid_header", lang) + "\n" + exc.describe(lang), file=sys.stderr)
        return 2
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        print(tr("configure.not_saved", lang), file=sys.stderr)
        return 1

    conn = settings.connection
    account = config.credential_account(conn)
    try:
        store = open_keyring()  # before testing anything: without a keyring nothing can be saved
        params = resolve(conn, password_override=password)
        keep_password = password is None
        password = params.require_password()
    except NoPasswordStored:
        print(tr("configure.no_password", lang, account=account), file=sys.stderr)
        return 2
    except KeyringProblem as exc:
        print(exc.message(lang), file=sys.stderr)
        print(tr("configure.not_saved", lang), file=sys.stderr)
        return 1
    except ConnectionSetupError as exc:  # sslrootcert = system not usable here
        print(exc.message(lang), file=sys.stderr)
        return 2

    print(tr("configure.checking", lang, server=params.server), flush=True)
    result = check_server(conn, password, lang, params=params)
    for line in result.lines:
        print("  " + line)
    if not result.ok:
        print(tr("configure.not_saved", lang), file=sys.stderr)
        return 1
    try:
        if not keep_password:
            store_password(store, account, password)
        path = config_files.save_user(settings)
    except KeyringProblem as exc:
        print(exc.message(lang), file=sys.stderr)
        print(tr("configure.not_saved", lang), file=sys.stderr)
        return 1
    except OSError as exc:
        print(tr("configure.save_failed", lang, detail=str(exc)), file=sys.stderr)
        return 1
    print(tr("configure.saved_file", lang, path=path))
    if keep_password:
        print(tr("configure.kept_password", lang, backend=store.backend_name))
    else:
        print(
            tr(
                "configure.saved_password",
                lang,
                backend=store.backend_name,
                service=config.CREDENTIAL_SERVICE,
                account=account,
            )
        )
    return 0


def _show(lang: str) -> int:
    from agent.deploy import config_files
    from agent.deploy.connection import KeyringProblem, open_keyring, read_keyring_password

    print(tr("configure.show_user_file", lang, path=config_files.user_file()))
    print(tr("configure.show_machine_file", lang, path=config_files.machine_file()))
    try:
        loaded = config_files.load()
    except ConfigError as exc:
        print(tr("config.invalid_header", lang) + "\n" + exc.describe(lang), file=sys.stderr)
        return 2
    print(tr("configure.show_files", lang, files=", ".join(str(f) for f in loaded.files) or "-"))
    for line in config_files.describe_sources(loaded):
        print("  " + line)
    account = config.credential_account(loaded.settings.connection)
    try:
        store = open_keyring()
        stored = read_keyring_password(account) is not None
        state = "configure.password_stored" if stored else "configure.password_absent"
        print(tr("configure.show_password", lang, account=account, state=tr(state, lang), backend=store.backend_name))
    except KeyringProblem as exc:
        print(exc.message(lang), file=sys.stderr)
        return 1
    return 0


def _forget(conn: ConnectionSettings, lang: str) -> int:
    from agent.deploy.connection import KeyringProblem, forget_password, open_keyring

    account = config.credential_account(conn)
    try:
        removed = forget_password(open_keyring(), account)
    except KeyringProblem as exc:
        print(exc.message(lang), file=sys.stderr)
        return 1
    print(tr("configure.forgot" if removed else "configure.none_to_forget", lang, account=account))
    return 0


# ------------------------------------------------------------------------------------------------ autostart


def _cmd_autostart(args: argparse.Namespace) -> int:
    from agent.adapters.autostart_api import launch_command
    from agent.adapters.choose import autostart as open_autostart

    lang: str = args.lang
    try:
        port = open_autostart()
        if args.action == "on":
            status = port.enable(launch_command())
        elif args.action == "off":
            status = port.disable()
        else:
            status = port.status()
    except (OSError, ValueError) as exc:
        print(tr("autostart.failed", lang, detail=str(exc)), file=sys.stderr)
        return 1
    if status.enabled:
        print(tr("autostart.on", lang, location=status.location, command=status.command))
    else:
        print(tr("autostart.off", lang, location=status.location))
    return 0
