"""``python -m agent demo``: an embedded PostgreSQL with the kit and demo members, a simulated turnstile, and
the tray agent (or the console) on it. No set-up, nothing kept."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import tempfile
import threading
from typing import Any

log = logging.getLogger("agent.cli")

DEMO_DATABASE = "torniquete_db"
DEMO_INTERVAL_S = 8.0
"""Seconds between simulated entries. With the default flood limit (4 per 30 s) one entry every 8 s puts at most
4 in any 30 s window, so the demo shows the normal flow, never a flood summary; the plan's order
(:func:`demo_plan`) shows every status, the first visit, the visitor and the employee in the first minute."""
DEMO_FIRST_S = 1.0
"""Seconds from the agent listening to the first simulated entry."""


DEMO_REPEAT_MIN = 1
"""The demo's repeat-entry window, minutes (the product's default is 60): short, so that only the plan's one
repeat entry is one, not every entry of the next cycle."""
FIRST_VISIT_KEY = "current3"
"""The demo member with no earlier entry: the first one shows "Primera visita"."""


def demo_plan(member_ids: dict[str, int]) -> list[dict[str, Any]]:
    """One cycle of the simulated turnstile, repeated while the demo runs. At :data:`DEMO_INTERVAL_S` (entry
    ``k`` at ``DEMO_FIRST_S + k * DEMO_INTERVAL_S`` s) the first eight steps, all within the first minute, show
    every member status, the first visit (:data:`FIRST_VISIT_KEY`: no earlier entry; it is also the "al día"
    status), a denied passage, a visitor and an employee. Then ``current`` twice, 16 s apart: the one repeat entry
    of the cycle, within the demo's :data:`DEMO_REPEAT_MIN`-minute window. No other member has a granted entry
    twice within the window, across cycles either: ``current``'s repeat and its next cycle's first entry are
    72 s apart, and ``current2`` is only ever denied (a denied entry is no "previous granted entry").
    ``member_ids`` maps :data:`agent.db.demo_data.MEMBERS` keys to ``id_miembro``."""
    from agent.core import names

    def member(key: str, result: str = names.RESULT_GRANTED) -> dict[str, Any]:
        return {"member_id": member_ids[key], "access_type": names.MEMBER_ACCESS, "result": result}

    return [
        member(FIRST_VISIT_KEY),
        member("current2", names.RESULT_DENIED),
        member("expired"),
        member("expiring"),
        {"member_id": None, "access_type": "visitante", "result": names.RESULT_GRANTED},
        member("balance"),
        {"member_id": None, "access_type": "empleado", "result": names.RESULT_GRANTED},
        member("birthday"),
        member("current"),
        member("big_note"),
        member("current"),
    ]


def run_demo(args: argparse.Namespace) -> int:
    """Embedded PostgreSQL + the kit + demo members + a simulated turnstile + the tray agent (or the console)."""
    import psycopg2

    from agent import logging_setup
    from agent.core.config import NotificationSettings, Settings
    from agent.core.i18n import tr
    from agent.db import demo_data, setup, throwaway
    from agent.desk import compose, wiring

    lang = args.lang
    headless = bool(args.headless)
    if not headless and not wiring.has_display():
        print(tr("demo.no_display", lang))
        headless = True
    instance = wiring.hold_single_instance("demo", lang)
    if instance is None:
        return wiring.EXIT_ALREADY_RUNNING
    log_file = logging_setup.setup_logging("INFO", console=bool(args.verbose))
    logging_setup.install_excepthooks()
    print(tr("demo.starting", lang), flush=True)
    server: throwaway.ThrowawayPostgres | None = None
    photo_server: Any = None
    photo_cache = tempfile.TemporaryDirectory(prefix="aviso-demo-photos-")
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
            photo_server = _start_photo_server(conn)
            with conn.cursor() as cur:
                cur.execute("SELECT id_miembro, nombre, apellido FROM miembros ORDER BY id_miembro")
                rows = cur.fetchall()
        finally:
            conn.close()
        for line in report.lines:
            print("  " + line)
        by_name = {(r[1], r[2]): int(r[0]) for r in rows}
        ids = {m.key: by_name[(m.first_name, m.last_name)] for m in demo_data.MEMBERS}
        _earlier_visits(server.dsn(dbname=DEMO_DATABASE), [v for k, v in ids.items() if k != FIRST_VISIT_KEY])
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
            repeat_entry_warning_min=DEMO_REPEAT_MIN,
            language=lang,
        )
        opts = compose.AgentOptions(
            dsn=server.dsn(dbname=DEMO_DATABASE, user="pos_user"),
            password=pos_password,
            settings=Settings(notifications=notif),
            lang=lang,
            headless=headless,
            duration_s=args.duration,
            log_file=log_file,
        )
        turnstile.start()
        page = _demo_page(opts, lang)
        return compose.run_agent(opts, photos=_demo_photos(photo_cache.name), local_page=page)
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
        if photo_server is not None:
            photo_server.stop()
        photo_cache.cleanup()
        instance.release()


def _start_photo_server(conn: Any) -> Any:
    """The demo's photo server (avatars on 127.0.0.1), with the demo members' ``foto_url`` pointing at it; None
    when it cannot start (the demo goes on without photos)."""
    from agent.db import demo_data
    from agent.photos.demo_server import DemoPhotoServer

    try:
        photo_server = DemoPhotoServer(demo_data.photo_people()).start()
    except OSError as exc:
        log.warning("demo photo server: %s", exc)
        return None
    with conn, conn.cursor() as cur:
        demo_data.set_photo_urls(cur, photo_server.base_url)
    return photo_server


def _demo_page(opts: Any, lang: str) -> Any:
    """The local page factory for the demo ("Entradas de hoy" on the embedded server): like the tray's, and its
    address is printed so it can be opened from any browser (it holds the page's per-run token)."""
    from agent.core.i18n import tr
    from agent.db.connect import connection_kwargs
    from agent.desk.click import run_click_action
    from agent.web.desk_page import start_for_desk

    kwargs = connection_kwargs(opts.dsn, password=opts.password, application_name="aviso-entradas page")

    def start(reload_settings: Any, photos: Any) -> Any:
        page = start_for_desk(
            lang=lang,
            settings=opts.settings,
            connect_kwargs=kwargs,
            reload_settings=reload_settings,
            run_click=run_click_action,
            photos=photos,
        )
        if page is not None:
            print(tr("demo.page", lang, url=page.url), flush=True)
        return page

    return start


def _demo_photos(folder: str) -> Any:
    """The photo source for the demo, caching in a temporary folder (nothing kept)."""
    from pathlib import Path

    from agent.core.config import PhotoSettings
    from agent.photos.source import Photos

    return Photos(PhotoSettings(), folder=Path(folder))


def _earlier_visits(dsn: str, member_ids: list[int]) -> None:
    """Give these members a granted entry yesterday (before the agent starts, so it shows none of them): their
    demo entries are then not first visits, and only :data:`FIRST_VISIT_KEY`'s first entry is one."""
    import psycopg2

    from agent.core import names

    col = {attr: column for column, attr in names.ENTRY_COLUMNS.items()}
    sql = (
        f"INSERT INTO {names.ENTRIES_TABLE} ({col['member_id']}, {col['access_type']}, {col['result']}, "
        f"{col['occurred_at']}) VALUES (%s, %s, %s, now() - interval '1 day')"
    )
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            for member_id in member_ids:
                cur.execute(sql, (member_id, names.MEMBER_ACCESS, names.RESULT_GRANTED))
    finally:
        conn.close()


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
