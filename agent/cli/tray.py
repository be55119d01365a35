"""The tray agent (``python -m agent`` / ``python -m agent tray``) and ``python -m agent demo``.

Handlers run on the main thread (pystray needs it) and return an exit code: 0 normal exit, 1 start-up failure,
2 usage or configuration error, 3 another instance is already running for this user.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable
from typing import Any

AddArg = Callable[[argparse.ArgumentParser], None]
log = logging.getLogger("agent.cli")

DEMO_DATABASE = "torniquete_db"
DEMO_INTERVAL_S = 8.0
"""Seconds between simulated entries. With the default flood limit (4 per 30 s) one entry every 8 s puts at most
4 in any 30 s window, so the demo shows the normal flow, never a flood summary; the plan's order
(:func:`demo_plan`) shows every status in the first minute."""
DEMO_FIRST_S = 1.0
"""Seconds from the agent listening to the first simulated entry."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add ``tray`` and ``demo`` to ``sub``."""
    p = sub.add_parser("tray", help="run the tray agent (the same as no command), with per-run overrides")
    p.add_argument(
        "--dsn",
        default=None,
        help="libpq conninfo/URL instead of the configured server (password: from it or PGPASSWORD)",
    )
    _add_run_options(p)
    p.set_defaults(handler=run_tray)

    p = sub.add_parser("demo", help="the agent on an embedded PostgreSQL with a simulated turnstile, no set-up")
    _add_run_options(p)
    p.add_argument(
        "--interval",
        type=float,
        default=DEMO_INTERVAL_S,
        help=f"seconds between simulated turnstile entries (default {DEMO_INTERVAL_S:g})",
    )
    p.set_defaults(handler=run_demo)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--headless", action="store_true", help="no tray icon; print notifications to the console")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="quit after S seconds (scripts, tests)")
    p.add_argument("--flood-max", type=int, default=None, metavar="K", help="at most K notifications per window")
    p.add_argument("--flood-window", type=float, default=None, metavar="T", help="flood-control window, seconds")
    p.add_argument("-v", "--verbose", action="store_true", help="also log to stderr")


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if getattr(args, "flood_max", None) is not None:
        out["notifications.flood_max_count"] = args.flood_max
    if getattr(args, "flood_window", None) is not None:
        out["notifications.flood_window_s"] = args.flood_window
    return out


def _language(args: argparse.Namespace, configured: str) -> str:
    """``--lang``/``AVISO_LANG`` when given, else the configured notification language."""
    explicit = any(a == "--lang" or a.startswith("--lang=") for a in sys.argv[1:]) or bool(os.environ.get("AVISO_LANG"))
    return str(args.lang) if explicit else configured


def split_password(dsn: str) -> tuple[str, str | None]:
    """(``dsn`` without its password, the password or None). Raises ``psycopg2.ProgrammingError`` for a bad DSN."""
    from psycopg2.extensions import make_dsn, parse_dsn

    params = parse_dsn(dsn)
    password = params.pop("password", None)
    return (make_dsn(**params) if params else ""), password


def run_tray(args: argparse.Namespace) -> int:
    """Run the tray agent until quit. Settings: config files + environment (``agent.deploy.config_files``) + options;
    password: the OS keyring (``agent.adapters.credentials_api``), or with ``--dsn`` the DSN/``PGPASSWORD``."""
    from agent import logging_setup
    from agent.core.config import ConfigError, Settings, credential_account
    from agent.core.i18n import tr
    from agent.deploy import config_files
    from agent.desk import app

    try:
        loaded = config_files.load(overrides=_overrides(args))
    except ConfigError as exc:
        print(exc.describe(args.lang), file=sys.stderr)
        return 2
    settings = loaded.settings
    lang = _language(args, settings.notifications.language)
    log_file = logging_setup.setup_logging(settings.log_level, console=bool(getattr(args, "verbose", False)))
    dsn_arg = getattr(args, "dsn", None)
    password: str | None
    reload = None
    keyring_problem = [""]  # why the keyring could not be read ('' when it could), as of the last read
    if dsn_arg is not None:
        dsn, password = split_password(dsn_arg)
    else:
        dsn = config_files.connection_dsn(settings.connection)
        password, keyring_problem[0] = _keyring_password(credential_account(settings.connection), lang)
        overrides = _overrides(args)

        def reload() -> tuple[str, str | None, Settings]:
            fresh = config_files.load(overrides=overrides).settings  # ConfigError: logged by the controller
            fresh_password, keyring_problem[0] = _keyring_password(credential_account(fresh.connection), lang)
            return config_files.connection_dsn(fresh.connection), fresh_password, fresh

    opts = app.AgentOptions(
        dsn=dsn,
        password=password,
        settings=settings,
        lang=lang,
        headless=bool(getattr(args, "headless", False)),
        duration_s=getattr(args, "duration", None),
        cursor_path=config_files.state_dir() / "delivery-cursor.json",
        log_file=log_file,
        reload=reload,
        credentials_problem=lambda: keyring_problem[0],
    )
    log.info("tray agent %s", "headless" if opts.headless else "with tray")
    try:
        return app.run_agent(opts)
    except Exception as exc:
        log.exception("the tray agent failed")
        print(tr("error.db", lang, detail=str(exc)), file=sys.stderr)
        return 1


def _keyring_password(account: str, lang: str = "es") -> tuple[str | None, str]:
    """(the stored password or None, why the keyring could not be read or ''). With None, libpq's
    ``PGPASSWORD``/``.pgpass`` apply. The reason is a translated sentence with the fix (the words of
    ``configure``: ``cred.unavailable`` when there is no usable keyring, e.g. no Secret Service on the session
    bus); the tray shows it instead of a password error. Problems are logged. Main or controller thread."""
    from agent.core.i18n import tr

    try:
        from agent.adapters.choose import credential_store
        from agent.adapters.credentials_api import CredentialsError, CredentialsUnavailable
    except ImportError:  # pragma: no cover (the deploy area ships it)
        return None, ""
    try:
        return credential_store().get(account), ""
    except CredentialsUnavailable as exc:
        log.warning("no password from the OS keyring for %s: %s", account, exc)
        return None, tr("cred.unavailable", lang, detail=exc.detail)
    except CredentialsError as exc:
        log.warning("no password from the OS keyring for %s: %s", account, exc)
        return None, tr("app.keyring_error", lang, detail=exc.detail)


# -- demo ----------------------------------------------------------------------------------------------------------
def demo_plan(member_ids: dict[str, int]) -> list[dict[str, Any]]:
    """One cycle of the simulated turnstile: every member status, a denied passage, a visitor and an employee,
    the warnings first (at :data:`DEMO_INTERVAL_S` every status is on screen within the first minute).
    ``member_ids`` maps :data:`agent.db.demo_data.MEMBERS` keys to ``id_miembro``."""
    from agent.core import names

    def member(key: str, result: str = names.RESULT_GRANTED) -> dict[str, Any]:
        return {"member_id": member_ids[key], "access_type": names.MEMBER_ACCESS, "result": result}

    return [
        member("current"),
        member("current2", names.RESULT_DENIED),
        member("expired"),
        member("expiring"),
        member("balance"),
        member("birthday"),
        {"member_id": None, "access_type": "visitante", "result": names.RESULT_GRANTED},
        member("big_note"),
        {"member_id": None, "access_type": "empleado", "result": names.RESULT_GRANTED},
        member("current3"),
        member("current2"),
    ]


def run_demo(args: argparse.Namespace) -> int:
    """Embedded PostgreSQL + the kit + demo members + a simulated turnstile + the tray agent (or the console)."""
    import psycopg2

    from agent import logging_setup
    from agent.core.config import NotificationSettings, Settings
    from agent.core.i18n import tr
    from agent.db import demo_data, setup, throwaway
    from agent.desk import app

    lang = args.lang
    headless = bool(args.headless)
    if not headless and not app.has_display():
        print(tr("demo.no_display", lang))
        headless = True
    log_file = logging_setup.setup_logging("INFO", console=bool(args.verbose))
    print(tr("demo.starting", lang), flush=True)
    server: throwaway.ThrowawayPostgres | None = None
    stop = threading.Event()
    turnstile: threading.Thread | None = None
    try:
        server = throwaway.ThrowawayPostgres(os.environ.get("AVISO_PG_BACKEND", "auto")).start()
        admin = psycopg2.connect(server.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DEMO_DATABASE}")
        admin.close()
        pos_password = secrets.token_urlsafe(18)
        conn = psycopg2.connect(server.dsn(dbname=DEMO_DATABASE))
        try:
            report = setup.apply(conn, schema=True, demo_data=True, pos_password=pos_password, lang=lang)
            with conn.cursor() as cur:
                cur.execute("SELECT id_miembro, nombre, apellido FROM miembros ORDER BY id_miembro")
                rows = cur.fetchall()
        finally:
            conn.close()
        for line in report.lines:
            print("  " + line)
        by_name = {(r[1], r[2]): int(r[0]) for r in rows}
        ids = {m.key: by_name[(m.first_name, m.last_name)] for m in demo_data.MEMBERS}
        who = {int(r[0]): f"{r[1]} {r[2]}" for r in rows}
        admin_dsn = server.dsn(dbname=DEMO_DATABASE)
        turnstile = threading.Thread(
            target=_turnstile,
            args=(admin_dsn, demo_plan(ids), float(args.interval), stop, lang, headless, who),
            name="demo-turnstile",
            daemon=True,
        )
        print(
            tr("demo.ready", lang, server=f"{server.host}:{server.port}/{DEMO_DATABASE}", interval=f"{args.interval:g}")
        )
        notif = NotificationSettings(
            flood_max_count=args.flood_max or NotificationSettings.flood_max_count,
            flood_window_s=args.flood_window or NotificationSettings.flood_window_s,
            language=lang,
        )
        opts = app.AgentOptions(
            dsn=server.dsn(dbname=DEMO_DATABASE, user="pos_user"),
            password=pos_password,
            settings=Settings(notifications=notif),
            lang=lang,
            headless=headless,
            duration_s=args.duration,
            instance_name="demo",
            log_file=log_file,
        )
        turnstile.start()
        return app.run_agent(opts)
    except (throwaway.ServerError, psycopg2.Error, setup.SetupError, OSError) as exc:
        print(tr("demo.failed", lang, detail=str(exc).strip()), file=sys.stderr)
        log.exception("demo failed")
        return 1
    finally:
        stop.set()
        if turnstile is not None and turnstile.is_alive():
            turnstile.join(timeout=5)
        if server is not None:
            server.stop()


def _wait_for_listener(dsn: str, stop: threading.Event, timeout_s: float = 30.0) -> None:
    """Block until the agent's connection (role ``pos_user``) is open, so the first simulated entries are not
    made before it listens (a first start delivers only entries made after it)."""
    import time

    import psycopg2

    deadline = time.monotonic() + timeout_s
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            conn = psycopg2.connect(dsn)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'pos_user'")
                    row = cur.fetchone()
            finally:
                conn.close()
            if row and row[0]:
                return
        except psycopg2.Error as exc:
            log.warning("simulated turnstile: %s", exc)
        stop.wait(0.2)


def _turnstile(
    dsn: str,
    plan: list[dict[str, Any]],
    interval_s: float,
    stop: threading.Event,
    lang: str,
    echo: bool,
    who: dict[int, str],
) -> None:
    """Insert the plan's entries one by one, every ``interval_s`` seconds, until ``stop``; cycles forever."""
    from agent.core.i18n import tr
    from agent.db import simulate

    _wait_for_listener(dsn, stop)
    step = 0
    while not stop.wait(interval_s if step else DEMO_FIRST_S):
        item = plan[step % len(plan)]
        step += 1
        try:
            (row,) = simulate.insert_entries(
                dsn,
                count=1,
                member_id=item["member_id"],
                access_type=item["access_type"],
                result=item["result"],
                stop=stop,
            )
        except Exception as exc:  # the demo goes on; the agent's own log says what it saw
            log.warning("simulated turnstile: insert failed: %s", exc)
            continue
        if echo:
            line = tr(
                "simulate.inserted",
                lang,
                entry_id=row.entry_id,
                access=row.access_type,
                who=who.get(row.member_id, "-") if row.member_id is not None else "-",
                result=row.result,
                at=row.occurred_at.astimezone().strftime("%H:%M:%S"),
            )
            # one write call: the console notifier prints from another thread at the same time; the prefix
            # tells the simulated turnstile's lines from the notifications
            sys.stdout.write(tr("demo.turnstile_line", lang, line=line) + "\n")
            sys.stdout.flush()
