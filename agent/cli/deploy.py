"""``configure`` and ``autostart``: the deploy area's subcommands. Handlers run on the main thread.

``configure`` is silent when given options (IT scripts) and interactive in a terminal otherwise. It always tests
the connection with the password and checks that our trigger is installed (and notifies on the configured
channel) **before** saving anything: the settings file (:mod:`agent.deploy.config_files`) and the password in the OS
keyring (:mod:`agent.adapters.credentials_api`). Exit codes: 0 saved / shown, 1 check or save failed (nothing
saved), 2 usage or invalid settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.core import config
from agent.core.config import ConfigError, ConnectionSettings, Settings
from agent.core.i18n import MESSAGES, tr

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
    p.add_argument("--sslmode", help="libpq sslmode: " + ", ".join(config.SSLMODES))
    p.add_argument("--sslrootcert", help="CA certificate file for verify-ca / verify-full")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of standard input"
    )
    p.add_argument("--show", action="store_true", help="print the effective settings and their sources; change nothing")
    p.add_argument("--forget-password", action="store_true", help="remove the stored password of the configured server")
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
    """Today's entries from the saved settings' server for the settings page's list (None: not configured yet)."""
    from agent.adapters.credentials_api import CredentialsError
    from agent.web.page import table_reader

    try:
        dsn, password = load_connection()
    except (ConfigError, CredentialsError):
        return None
    return table_reader(dsn, password)


# --------------------------------------------------------------------------------------------------- checks


@dataclass
class CheckResult:
    """Outcome of :func:`check_server`: ``ok`` and translated ``lines`` for people (one per check)."""

    ok: bool
    lines: list[str] = field(default_factory=list)


def trigger_channel(tgargs_hex: str | None) -> str:
    """The channel a trigger notifies on from ``pg_trigger.tgargs`` (hex; NUL-terminated arguments).

    No argument means the trigger function's default, :data:`agent.core.names.DEFAULT_CHANNEL`.
    """
    from agent.core import names

    raw = bytes.fromhex(tgargs_hex or "")
    args = raw.split(b"\x00")[:-1] if raw else []
    return args[0].decode("utf-8") if args else names.DEFAULT_CHANNEL


def check_server(conn: ConnectionSettings, password: str | None, lang: str) -> CheckResult:
    """Connect with ``password`` and check that our trigger is on ``registro_entradas`` with ``conn.channel``.

    Opens and closes its own connection (bounded by ``connect_timeout_s``); any thread. Never raises for
    database errors: they become lines in the result.
    """
    import psycopg2

    from agent.core import advice, names
    from agent.deploy.config_files import connection_dsn

    result = CheckResult(ok=False)
    dsn = connection_dsn(conn, application_name="aviso-entradas configure")
    try:
        db = psycopg2.connect(dsn, password=password or None)
    except psycopg2.Error as exc:
        detail = str(exc).strip()
        problem = advice.classify(getattr(exc, "pgcode", None), detail)
        hint_key = f"advice.{problem.value}"
        if hint_key in MESSAGES:
            detail = f"{detail}\n  {tr(hint_key, lang)}"
        result.lines.append(tr("configure.connect_failed", lang, detail=detail))
        return result
    try:
        db.autocommit = True
        with db.cursor() as cur:
            cur.execute("SHOW server_version")
            row = cur.fetchone()
            result.lines.append(tr("configure.connect_ok", lang, version=row[0] if row else "?"))
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (names.ENTRIES_TABLE,))
            row = cur.fetchone()
            if not (row and row[0]):
                result.lines.append(tr("configure.no_table", lang))
                return result
            cur.execute(
                "SELECT encode(t.tgargs, 'hex') FROM pg_trigger t "
                "WHERE t.tgrelid = to_regclass(%s) AND t.tgname = %s AND NOT t.tgisinternal",
                (names.ENTRIES_TABLE, names.TRIGGER_NAME),
            )
            row = cur.fetchone()
    except psycopg2.Error as exc:
        result.lines.append(tr("configure.connect_failed", lang, detail=str(exc).strip()))
        return result
    finally:
        db.close()
    if row is None:
        result.lines.append(tr("configure.no_trigger", lang))
        return result
    actual = trigger_channel(row[0])
    if actual != conn.channel:
        result.lines.append(tr("configure.channel_mismatch", lang, actual=actual, wanted=conn.channel))
        return result
    result.lines.append(tr("configure.trigger_ok", lang, channel=actual))
    result.ok = True
    return result


# ------------------------------------------------------------------------------------------------ configure


def _read_password_stdin(lang: str, user: str) -> str:
    """First line of standard input without its line ending (a pipe: ``printf %s "$PW" | ...``); on a terminal,
    a prompt without echo instead of a visible line."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(tr("configure.password_prompt", lang, user=user))
    # A byte-order mark some Windows tools put before piped text is not part of the password.
    return sys.stdin.readline().lstrip("\ufeff").rstrip("\r\n")


def _base_settings(lang: str) -> Settings:
    """Settings from the files (not the environment: overrides must not be written into the user file).

    A broken file is reported and ignored, since ``configure`` is how people repair it.
    """
    from agent.deploy import config_files

    try:
        return config_files.load(use_env=False).settings
    except ConfigError as exc:
        print(tr("config.invalid_header", lang) + "\n" + exc.describe(lang), file=sys.stderr)
        return Settings()


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
    from agent.adapters.choose import credential_store
    from agent.adapters.credentials_api import CredentialsError, CredentialsUnavailable
    from agent.deploy import config_files

    lang: str = args.lang
    if args.show:
        return _show(lang)
    base = _base_settings(lang)

    given = {f"connection.{n}": getattr(args, n) for n in CONNECTION_FIELDS if getattr(args, n) is not None}
    if args.forget_password:
        return _forget(base.connection, lang)
    password: str | None = None
    try:
        if given or args.password_stdin:
            overrides: dict[str, object] = {k: config.coerce(k, str(v)) for k, v in given.items()}
            if args.password_stdin:
                user = str(overrides.get("connection.user", base.connection.user))
                password = _read_password_stdin(lang, user) or None
        elif sys.stdin.isatty():
            overrides, password = _interactive(base.connection, lang)
        else:
            print(tr("configure.need_input", lang), file=sys.stderr)
            return 2
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
        store = credential_store()
    except CredentialsUnavailable as exc:
        print(tr("cred.unavailable", lang, detail=exc.detail), file=sys.stderr)
        print(tr("configure.not_saved", lang), file=sys.stderr)
        return 1
    keep_password = False
    if password is None:
        try:
            password = store.get(account)
        except CredentialsError as exc:
            print(tr("cred.error", lang, detail=exc.detail), file=sys.stderr)
            return 1
        if password is None:
            print(tr("configure.no_password", lang, account=account), file=sys.stderr)
            return 2
        keep_password = True

    print(tr("configure.checking", lang, server=f"{conn.host}:{conn.port}/{conn.database}"), flush=True)
    result = check_server(conn, password, lang)
    for line in result.lines:
        print("  " + line)
    if not result.ok:
        print(tr("configure.not_saved", lang), file=sys.stderr)
        return 1
    try:
        if not keep_password:
            store.set(account, password)
        path = config_files.save_user(settings)
    except CredentialsError as exc:
        print(tr("cred.error", lang, detail=exc.detail), file=sys.stderr)
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
    from agent.adapters.choose import credential_store
    from agent.adapters.credentials_api import CredentialsError, CredentialsUnavailable
    from agent.deploy import config_files

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
        store = credential_store()
        state = "configure.password_stored" if store.get(account) is not None else "configure.password_absent"
        print(tr("configure.show_password", lang, account=account, state=tr(state, lang), backend=store.backend_name))
    except CredentialsUnavailable as exc:
        print(tr("cred.unavailable", lang, detail=exc.detail), file=sys.stderr)
        return 1
    except CredentialsError as exc:
        print(tr("cred.error", lang, detail=exc.detail), file=sys.stderr)
        return 1
    return 0


def _forget(conn: ConnectionSettings, lang: str) -> int:
    from agent.adapters.choose import credential_store
    from agent.adapters.credentials_api import CredentialsError, CredentialsUnavailable

    account = config.credential_account(conn)
    try:
        removed = credential_store().delete(account)
    except CredentialsError as exc:  # includes CredentialsUnavailable
        key = "cred.unavailable" if isinstance(exc, CredentialsUnavailable) else "cred.error"
        print(tr(key, lang, detail=exc.detail), file=sys.stderr)
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


def load_connection() -> tuple[str, str | None]:
    """For the running agent and ``listen`` without ``--dsn``: (conninfo without password, keyring password).

    Reads the effective settings (:func:`agent.deploy.config_files.load`) and the password of their server. Raises
    :class:`agent.core.config.ConfigError` for invalid settings and
    :class:`agent.adapters.credentials_api.CredentialsError` (incl. ``CredentialsUnavailable``) from the keyring;
    returns ``None`` as password when none is stored (libpq then tries ``PGPASSWORD``/``pgpass``). Any thread.
    """
    from agent.adapters.choose import credential_store
    from agent.deploy import config_files

    settings = config_files.load().settings
    password = credential_store().get(config.credential_account(settings.connection))
    return config_files.connection_dsn(settings.connection), password
