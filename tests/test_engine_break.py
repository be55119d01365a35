"""Adversarial cases for the engine (breakE): configurations and server conditions that broke delivery."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import socket
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import make_dsn

from agent.core import names
from agent.core.events import ConnState
from agent.core.ledger import Ledger
from agent.db import queries, setup, simulate, throwaway
from tests.conftest import Database
from tests.engine_helpers import Running, assert_exactly_once, fill_history, seq_scans
from tests.pg_replica import standby_of, wait_replayed
from tests.tcp_proxy import TcpProxy


def test_photo_column_of_the_wrong_type_does_not_stop_delivery(db: Database) -> None:
    """``photos.column`` naming a column that is not ``bytea`` (an int, a URL as text): entries still arrive,
    without photo bytes."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE miembros ADD COLUMN foto_id integer DEFAULT 7, ADD COLUMN foto_txt text DEFAULT 'x'")
        cur.execute("GRANT SELECT (foto_id, foto_txt) ON miembros TO pos_user")
    for column in ("foto_id", "foto_txt"):
        with Running(db.pos_dsn(), None, photo_column=column) as run:
            assert run.wait_listening()
            (e,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=1)
            assert run.wait_ids({e.entry_id}, timeout=5), (column, run.states)
            member = run.entries[-1].entry.member
            assert member is not None and member.photo_data is None and member.first_name


def test_photo_column_of_a_domain_over_bytea_is_read(db: Database) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) + b"\xff\xd9"
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DOMAIN imagen AS bytea")
        cur.execute("ALTER TABLE miembros ADD COLUMN foto imagen")
        cur.execute("UPDATE miembros SET foto = %s WHERE id_miembro = 1", (psycopg2.Binary(jpeg),))
        cur.execute("GRANT SELECT (foto) ON miembros TO pos_user")
    with Running(db.pos_dsn(), None, photo_column="foto") as run:
        assert run.wait_listening()
        (e,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=1)
        assert run.wait_ids({e.entry_id}, timeout=5)
        member = run.entries[-1].entry.member
    assert member is not None and member.photo_data == jpeg


def test_failover_to_the_next_host_of_a_multi_host_dsn_replays_nothing(db: Database, tmp_path: Path) -> None:
    """``host=a,b`` (a primary and its standby, or two addresses of one server): when the engine reconnects to
    the second host, the ledger is the same database's, so nothing already delivered comes again (it used to
    start a fresh ledger for the new ``host:port`` and replay every entry since the agent started)."""
    proxy = TcpProxy("127.0.0.1", db.server.port).start()
    dsn = make_dsn(host="127.0.0.1,127.0.0.1", port=f"{proxy.port},{db.server.port}", dbname=db.name, user="pos_user")
    try:
        with Running(dsn, db.pos_password, cursor_path=tmp_path / "cursor.json") as run:
            assert run.wait_listening()
            first = simulate.insert_entries(db.admin_dsn(), count=5)
            assert run.wait_ids({e.entry_id for e in first})
            proxy.close()  # the first host goes away: libpq connects to the second one
            assert run.wait(lambda: str(db.server.port) in run.engine.server and len(run.states) >= 4)
            assert run.wait_listening(after=2)
            second = simulate.insert_entries(db.admin_dsn(), count=3)
            expected = {e.entry_id for e in first + second}
            assert run.wait_ids(expected)
            time.sleep(1.5)  # a sweep or two
            assert_exactly_once(run.ids(), expected)
            assert not run.summaries
    finally:
        proxy.close()


@pytest.mark.parametrize(
    "setting",
    [
        "statement_timeout = '1ms'",
        "DateStyle = 'SQL, DMY'",
        "DateStyle = 'German'",
        "IntervalStyle = 'sql_standard'",
        "default_transaction_isolation = 'serializable'",
        "default_transaction_read_only = on",
        "lock_timeout = '1ms'",
        "TimeZone = 'America/Argentina/Buenos_Aires'",
        "bytea_output = 'escape'",
        "client_encoding = 'LATIN1'",
    ],
)
def test_role_level_settings_do_not_break_delivery(db: Database, setting: str) -> None:
    """``ALTER ROLE pos_user SET ...`` by whoever runs the turnstile's server: the engine still delivers."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(f"ALTER ROLE pos_user IN DATABASE {db.name} SET {setting}")
    for mode in ("notify", "poll"):
        with Running(db.pos_dsn(), None, mode=mode, poll_interval_s=0.1) as run:
            assert run.wait_listening(), run.states
            inserted = simulate.insert_entries(db.admin_dsn(), count=3, member_id=1)
            ids = {e.entry_id for e in inserted}
            assert run.wait_ids(ids, timeout=5), (mode, run.states)
            got = {e.entry.entry_id: e.entry for e in run.entries}
            for e in inserted:
                assert abs((got[e.entry_id].occurred_at - e.occurred_at).total_seconds()) < 1
            assert got[inserted[1].entry_id].previous_entry_at is not None


def test_poll_mode_on_a_standby_through_paused_replay_and_a_promotion(pos_password: str, tmp_path: Path) -> None:
    """A hot standby whose replay is paused (``pg_wal_replay_pause()``) then resumed, with a late commit and a
    role-level ``default_transaction_isolation = 'serializable'`` (refused on a standby); then a multi-host DSN
    (primary, standby) whose primary dies and whose standby is promoted: every entry once."""
    if os.environ.get("AVISO_PG_DSN"):
        pytest.skip("needs throwaway servers (AVISO_PG_DSN points at an external one)")
    with throwaway.ThrowawayPostgres(os.environ.get("AVISO_PG_BACKEND", "auto")) as primary:
        admin = psycopg2.connect(primary.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE torniquete_db")
        admin.close()
        pdsn = primary.dsn(dbname="torniquete_db")
        conn = psycopg2.connect(pdsn)
        setup.apply(conn, schema=True, pos_password=pos_password, demo_data=True)
        conn.close()
        with psycopg2.connect(pdsn) as conn, conn.cursor() as cur:
            cur.execute(f"ALTER ROLE {names.ROLE} SET default_transaction_isolation = 'serializable'")
        conn.close()
        with standby_of(primary) as port:
            sdsn = f"host=127.0.0.1 port={port} dbname=torniquete_db user=postgres"
            throwaway.wait_until_accepting(sdsn, 30)
            standby = f"host=127.0.0.1 port={port} dbname=torniquete_db user={names.ROLE}"
            with Running(standby, pos_password, mode="poll", poll_interval_s=0.1) as run:
                assert run.wait_listening(), run.states
                ctl = psycopg2.connect(sdsn)
                ctl.autocommit = True
                with ctl.cursor() as cur:
                    cur.execute("SELECT pg_wal_replay_pause()")
                slow = psycopg2.connect(pdsn)
                with slow.cursor() as cur:
                    cur.execute(
                        "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (2, 'miembro')"
                        " RETURNING id_entrada"
                    )
                    (low_id,) = cur.fetchone()  # type: ignore[misc]
                inserted = simulate.insert_entries(pdsn, count=20, rate_per_s=50)
                slow.commit()
                slow.close()
                time.sleep(2.5)  # polls and sweeps while the standby shows nothing new
                assert not run.entries
                with ctl.cursor() as cur:
                    cur.execute("SELECT pg_wal_replay_resume()")
                ctl.close()
                ids = {low_id, *(i.entry_id for i in inserted)}
                assert run.wait_ids(ids, timeout=15), run.states
                time.sleep(0.5)
                assert_exactly_once(run.ids(), ids)
            pair = make_dsn(
                host="127.0.0.1,127.0.0.1", port=f"{primary.port},{port}", dbname="torniquete_db", user=names.ROLE
            )
            with Running(
                pair, pos_password, mode="poll", poll_interval_s=0.1, cursor_path=tmp_path / "cursor.json"
            ) as run:
                assert run.wait_listening(), run.states
                before = simulate.insert_entries(pdsn, count=5)
                assert run.wait_ids({i.entry_id for i in before})
                wait_replayed(pdsn, sdsn)
                primary.stop()
                with psycopg2.connect(sdsn) as c, c.cursor() as cur:
                    cur.execute("SELECT pg_promote()")
                c.close()
                assert run.wait(lambda: str(port) in run.engine.server and run.states[-1].state is ConnState.LISTENING)
                after = simulate.insert_entries(sdsn, count=5)
                ids = {i.entry_id for i in before + after}
                assert run.wait_ids(ids, timeout=15), run.states
                time.sleep(1.5)
                assert_exactly_once(run.ids(), ids)


@pytest.mark.parametrize("mode", ["notify", "poll"])
def test_two_turnstiles_with_a_cached_sequence_and_a_clock_behind(db: Database, mode: str) -> None:
    """Sequence ``CACHE 20`` and two turnstiles (sessions): turnstile A holds ids 1-20, B 21-40, so A's entries
    are always below the cursor B moved; A's clock is two minutes behind (it writes its own ``fecha_hora``)."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence('registro_entradas', 'id_entrada')")
        (seq,) = cur.fetchone()  # type: ignore[misc]
        cur.execute(f"ALTER SEQUENCE {seq} CACHE 20")
    a, b = db.connect_admin(), db.connect_admin()
    ins = (
        "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora) VALUES (%s, 'miembro', {})"
        " RETURNING id_entrada"
    )
    ids: set[int] = set()
    with Running(db.pos_dsn(), None, mode=mode, poll_interval_s=0.1) as run:
        assert run.wait_listening()
        with a.cursor() as ca, b.cursor() as cb:
            for n in range(6):  # A first: it takes the lower block of ids
                cur, when, member = (ca, "now() - interval '2 minutes'", 2) if n % 2 == 0 else (cb, "now()", 1)
                cur.execute(ins.format(when), (member,))
                ids.add(cur.fetchone()[0])  # type: ignore[index]
                time.sleep(0.3)
        ok = run.wait_ids(ids, timeout=3)
        time.sleep(1.2)
        assert ok, sorted(ids - set(run.ids()))
        assert_exactly_once(run.ids(), ids)
    a.close()
    b.close()


def _t(minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, 1, 10, minute, second, tzinfo=dt.UTC)


def test_ledger_id_window_remembers_deliveries_below_the_cursor_whatever_their_date() -> None:
    led = Ledger(lookback_s=60, lookback_ids=10)
    led.start_at(100, _t(0))
    assert led.id_floor == 100 and led.holes() == []
    led.mark(102, _t(1))
    assert led.holes() == [101]
    assert led.is_new(101, _t(0) - dt.timedelta(hours=2))  # a hole: new whatever its date
    led.mark(101, _t(0) - dt.timedelta(hours=2))
    led.mark(110, _t(5))
    led.prune()  # 101 is dated long before the time window, and still remembered: no duplicate
    assert not led.is_new(101, _t(0) - dt.timedelta(hours=2)) and 101 in led.recent
    assert led.holes() == [103, 104, 105, 106, 107, 108, 109]
    led.settle(103, _t(1))  # a visitor's id
    assert 103 not in led.holes()
    assert not led.is_new(100, _t(1))  # at or below the id floor: time rules only (here: before the window)
    back = Ledger.from_dict(led.to_dict("s"), "s", lookback_s=60)
    back.lookback_ids = 10
    assert back.holes() == led.holes() and back.id_floor == 100
    led.skip_to(500, _t(6))  # a summary: its ids were not remembered one by one
    assert led.id_floor == 500 and led.holes() == []


def test_ledger_saved_before_the_id_window_has_no_holes() -> None:
    old = Ledger(lookback_s=60)
    old.start_at(10, _t(0))
    old.mark(20, _t(1))
    data = old.to_dict("s")
    del data["id_floor"]
    led = Ledger.from_dict(data, "s", lookback_s=60)
    led.lookback_ids = 1000
    assert led.id_floor == 20 and led.holes() == []  # ids 11-19 were never remembered: not replayed


def test_ledger_without_unacknowledged_keeps_them_as_holes() -> None:
    led = Ledger(lookback_s=60, lookback_ids=100)
    led.start_at(0, _t(0))
    for i in range(1, 6):
        led.mark(i, _t(1))
    copy = led.without({3: _t(1)})
    assert copy.cursor_id == 2 and copy.is_new(3, _t(1)) and not copy.is_new(4, _t(1))


def test_visitor_ids_below_the_cursor_are_settled_not_probed_forever(db: Database) -> None:
    with Running(db.pos_dsn(), None, mode="poll", poll_interval_s=0.1) as run:
        assert run.wait_listening()
        simulate.insert_entries(db.admin_dsn(), count=5, access_type="visitante")
        (m,) = simulate.insert_entries(db.admin_dsn(), count=1)
        assert run.wait_ids({m.entry_id})
        ledger = run.engine._delivery.ledger
        assert run.wait(lambda: not ledger.holes(), timeout=3), ledger.holes()
        assert ledger.hole_floor() < m.entry_id - 5  # the visitors' ids are inside the id window
        assert_exactly_once(run.ids(), {m.entry_id})


@pytest.mark.parametrize("mode", ["notify", "poll"])
def test_truncate_restart_identity_while_running(db: Database, mode: str) -> None:
    """The table emptied and its ids restarted (``TRUNCATE ... RESTART IDENTITY``, a restore from an older
    backup): entries reusing ids already delivered are new entries, delivered once."""
    with Running(db.pos_dsn(), None, mode=mode, poll_interval_s=0.1) as run:
        assert run.wait_listening()
        before = simulate.insert_entries(db.admin_dsn(), count=30)
        assert run.wait_ids({e.entry_id for e in before})
        time.sleep(1.5)  # sweeps: the ledger saved its cursor at the old ids
        with db.connect_admin() as conn, conn.cursor() as cur:
            cur.execute("TRUNCATE registro_entradas RESTART IDENTITY")
        time.sleep(1.5)
        after = simulate.insert_entries(db.admin_dsn(), count=40, rate_per_s=40)
        assert {e.entry_id for e in after} == set(range(1, 41))
        time.sleep(2.5)
        got = [e.entry for e in run.entries[len(before) :]]
        missing = set(range(1, 41)) - {e.entry_id for e in got}
        assert not missing, sorted(missing)
        assert len(got) == 40, sorted(e.entry_id for e in got)


def test_ledger_rebase_after_ids_went_back() -> None:
    led = Ledger(lookback_s=60, lookback_ids=1000)
    led.start_at(0, _t(0))
    for i in range(1, 31):
        led.mark(i, _t(1))
    led.rebase(10, still_valid={1, 2, 3})
    assert led.cursor_id == 10 and sorted(led.recent) == [1, 2, 3] and led.holes() == []
    assert led.is_new(4, _t(1)) and not led.is_new(2, _t(1)) and led.is_new(11, _t(0))
    assert not led.is_new(5, _t(0) - dt.timedelta(hours=1))  # an old row of a restored backup: not replayed


def test_pending_query_parameters_of_every_caller(db: Database) -> None:
    """The engine's parameters (holes, window_top) and doctor's older interface (catch_up_sql without them)."""
    select = queries.EntrySelect(entry_columns=tuple(names.ENTRY_COLUMNS), member_columns=())
    base = {"member": names.MEMBER_ACCESS, "after_id": 5, "since": dt.datetime.now(dt.UTC), "page_after": 0}
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(select.catch_up_sql(), {**base, "max_age_s": 60.0, "limit": 1})
        cur.execute(
            select.pending_ids_sql(),
            {**base, "cutoff": None, "limit": 1, "holes": [1, 2], "window_top": 3, "until": None, "window_bottom": 0},
        )
        assert all(len(r) == 4 for r in cur.fetchall())


def _fecha_index_reads(db: Database) -> int:
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(
            "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'registro_entradas_fecha_hora_idx'"
        )
        return int(cur.fetchone()[0])  # type: ignore[index]


def test_a_turnstile_clock_a_day_ahead_does_not_grow_every_poll(db: Database) -> None:
    """Entries dated tomorrow (a turnstile clock ahead) stayed inside the late-commit window ``fecha_hora >=
    since`` until tomorrow: every poll read all of them again (2,000 rows per poll here, a day of a turnstile's
    entries in real life)."""
    with Running(db.pos_dsn(), None, mode="poll", poll_interval_s=0.1, heartbeat_s=30.0) as run:
        assert run.wait_listening()
        with db.connect_admin() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora)"
                " SELECT 1 + g % 5, 'miembro', now() + interval '1 day' FROM generate_series(1, 3000) AS g"
                " RETURNING id_entrada"
            )
            ids = {int(r[0]) for r in cur.fetchall()}
        assert run.wait_ids(ids, timeout=20)
        time.sleep(1.5)
        polls, reads = run.engine.stats["polls"], _fecha_index_reads(db)
        time.sleep(2.0)
        polls, reads = run.engine.stats["polls"] - polls, _fecha_index_reads(db) - reads
        assert polls >= 5
        assert reads < 20 * polls, (reads, polls)
        assert_exactly_once(run.ids(), ids)


@pytest.mark.parametrize("mode", ["notify", "poll"])
def test_idle_agent_without_the_fecha_hora_index_does_no_sequential_scan(db: Database, mode: str) -> None:
    """A vendor who allows no change (the no-trigger mode's audience) may allow no index either, or setup-db ran
    with ``--no-index``: the late-commit window cannot use ``fecha_hora`` then, and must not scan the table."""
    fill_history(db.admin_dsn(), 300_000)
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP INDEX registro_entradas_fecha_hora_idx")
        cur.execute("ANALYZE registro_entradas")
    before = seq_scans(db.admin_dsn())
    with Running(db.pos_dsn(), None, mode=mode, heartbeat_s=0.3, poll_interval_s=0.1) as run:
        assert run.wait_listening()
        (e,) = simulate.insert_entries(db.admin_dsn(), count=1)
        assert run.wait_ids({e.entry_id})
        time.sleep(2.0)
        assert run.engine.stop(timeout_s=3.0)
    time.sleep(0.5)
    assert seq_scans(db.admin_dsn()) == before, "the idle agent scanned registro_entradas sequentially"


def test_first_address_that_never_answers_falls_through_to_the_second(db: Database) -> None:
    """libpq's ``connect_timeout`` applies to each host address in turn (libpq docs, "Parameter Key Words"); the
    engine's own wait for the whole connect was one ``connect_timeout``, so a first address that never answers
    (an unrouted IPv6 record, a dead primary in ``host=a,b``) ended every attempt before libpq tried the next."""
    dead = TcpProxy("127.0.0.1", db.server.port).start()
    dead.blackhole()
    dsn = make_dsn(host="127.0.0.1,127.0.0.1", port=f"{dead.port},{db.server.port}", dbname=db.name, user="pos_user")
    try:
        with Running(dsn, db.pos_password, connect_timeout_s=2.0) as run:
            assert run.wait_listening(timeout=12), run.states
            (e,) = simulate.insert_entries(db.admin_dsn(), count=1)
            assert run.wait_ids({e.entry_id})
    finally:
        dead.close()


def test_attempts_split_a_multi_address_dsn_in_libpq_order() -> None:
    from psycopg2.extensions import parse_dsn

    from agent.db.resolve import attempts

    one = "host=a port=5432 dbname=d"
    assert attempts(one) == [one]
    split = [parse_dsn(d) for d in attempts("host=a,b port=1,2 dbname=d target_session_attrs=read-write")]
    assert [(p["host"], p["port"], p["target_session_attrs"]) for p in split] == [
        ("a", "1", "read-write"),
        ("b", "2", "read-write"),
    ]
    split = [parse_dsn(d) for d in attempts("host=n,n hostaddr=::1,127.0.0.1 port=5433 dbname=d")]
    assert [(p["host"], p["hostaddr"], p["port"]) for p in split] == [("n", "::1", "5433"), ("n", "127.0.0.1", "5433")]
    assert attempts("host=a,b port=1,2,3") == ["host=a,b port=1,2,3"]  # libpq reports the mismatch


class _SlowLink:
    """A loopback proxy that passes the server's bytes at ``rate`` bytes/s (a turnstile PC on a slow LAN)."""

    def __init__(self, port: int, rate: float) -> None:
        self.rate, self.upstream = rate, port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.rate), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket, rate: float | None) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("mode", ["notify", "poll"])
def test_a_burst_of_entries_with_large_photos_is_delivered(db: Database, mode: str) -> None:
    """30 entries of members whose ``bytea`` photo is 4 MB (a phone picture stored as is): the re-read carried
    every photo (120 MB), longer than the query timeout, so it failed, reconnected, and tried the same again."""
    big = b"\xff\xd8" + secrets.token_bytes(4_000_000)
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE miembros ADD COLUMN foto bytea")
        cur.execute("ALTER TABLE miembros ALTER COLUMN foto SET STORAGE EXTERNAL")
        cur.execute("UPDATE miembros SET foto = %s", (psycopg2.Binary(big),))
        cur.execute("GRANT SELECT (foto) ON miembros TO pos_user")
    link = _SlowLink(db.server.port, rate=50e6)
    dsn = make_dsn(host="127.0.0.1", port=link.port, dbname=db.name, user="pos_user")
    with Running(dsn, db.pos_password, mode=mode, poll_interval_s=0.5, photo_column="foto", query_timeout_s=2.0) as run:
        assert run.wait_listening()
        inserted = simulate.insert_entries(db.admin_dsn(), count=30, burst=True)
        ids = {e.entry_id for e in inserted}
        assert run.wait_ids(ids, timeout=15), (len(run.ids()), run.states[-3:])
        assert_exactly_once(run.ids(), ids)
        assert any(e.entry.member and e.entry.member.photo_data == big for e in run.entries)
    link.close()


@pytest.mark.parametrize("mode", ["notify", "poll"])
def test_a_transaction_open_longer_than_the_lookback_is_delivered(db: Database, mode: str) -> None:
    """``fecha_hora DEFAULT now()`` is the transaction's start: a turnstile transaction held open longer than
    ``lookback_s`` (here 1 s) commits an entry dated before the time window, below ids already delivered. The
    time window alone lost it; the id window delivers it (and ``lookback_ids=0`` shows the old behaviour)."""
    for lookback_ids, expect in ((1000, True), (0, False)):
        with Running(
            db.pos_dsn(), None, mode=mode, poll_interval_s=0.1, lookback_s=1.0, lookback_ids=lookback_ids
        ) as run:
            assert run.wait_listening()
            slow = db.connect_admin(autocommit=False)
            with slow.cursor() as cur:
                cur.execute(
                    "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (2, 'miembro') RETURNING id_entrada"
                )
                (low,) = cur.fetchone()  # type: ignore[misc]
            fast = simulate.insert_entries(db.admin_dsn(), count=3, rate_per_s=2)
            assert run.wait_ids({e.entry_id for e in fast})
            time.sleep(1.5)
            slow.commit()
            slow.close()
            assert run.wait_ids({low}, timeout=3) is expect
            assert_exactly_once(run.ids(), {low, *(e.entry_id for e in fast)} if expect else {e.entry_id for e in fast})


@pytest.mark.parametrize("mode", ["notify", "poll"])
def test_concurrent_turnstiles_with_jittered_commits_every_entry_once(db: Database, mode: str) -> None:
    """Three turnstiles insert concurrently, each transaction held open a random 0-300 ms after its INSERT (so
    commits come out of id order all the time), sequence ``CACHE 5``; some transactions roll back (gaps)."""
    import random

    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence('registro_entradas', 'id_entrada')")
        (seq,) = cur.fetchone()  # type: ignore[misc]
        cur.execute(f"ALTER SEQUENCE {seq} CACHE 5")
    committed: set[int] = set()
    lock = threading.Lock()

    def turnstile(seed: int) -> None:
        rng = random.Random(seed)
        conn = db.connect_admin(autocommit=False)
        for _ in range(40):
            with conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (%s, %s) RETURNING id_entrada",
                    (1 + rng.randrange(5), "miembro" if rng.random() < 0.85 else "visitante"),
                )
                (i,) = cur.fetchone()  # type: ignore[misc]
                member = cur.query is not None and b"'miembro'" in cur.query
            time.sleep(rng.random() * 0.3)
            if rng.random() < 0.1:
                conn.rollback()
                continue
            conn.commit()
            if member:
                with lock:
                    committed.add(int(i))
        conn.close()

    with Running(db.pos_dsn(), None, mode=mode, poll_interval_s=0.1) as run:
        assert run.wait_listening()
        threads = [threading.Thread(target=turnstile, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert run.wait_ids(committed, timeout=10), sorted(committed - set(run.ids()))
        time.sleep(1.5)
        assert_exactly_once(run.ids(), committed)


def test_truncate_while_the_agent_is_stopped(db: Database, tmp_path: Path) -> None:
    """Emptied with ``RESTART IDENTITY`` while the agent was stopped, then entries older than the replay age and
    recent ones: the old ones are one summary, the recent ones arrive one by one (the reused ids are new
    entries, the rows dated after the ledger's cursor time)."""
    cursor = tmp_path / "cursor.json"
    with Running(db.pos_dsn(), None, cursor_path=cursor, replay_max_age_s=2.0) as run:
        assert run.wait_listening()
        first = simulate.insert_entries(db.admin_dsn(), count=30)
        assert run.wait_ids({e.entry_id for e in first})
    time.sleep(0.5)
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("TRUNCATE registro_entradas RESTART IDENTITY")
    old = simulate.insert_entries(db.admin_dsn(), count=12)
    time.sleep(2.5)
    recent = simulate.insert_entries(db.admin_dsn(), count=8)
    assert [e.entry_id for e in old + recent] == list(range(1, 21))
    with Running(db.pos_dsn(), None, cursor_path=cursor, replay_max_age_s=2.0) as run:
        assert run.wait_ids({e.entry_id for e in recent})
        assert run.wait(lambda: bool(run.summaries), timeout=3)
        time.sleep(1.5)
        assert_exactly_once(run.ids(), {e.entry_id for e in recent})
        assert [s.count for s in run.summaries] == [12]


@pytest.mark.parametrize("mode", ["notify", "poll"])
def test_restore_of_an_older_backup_replays_nothing_old(db: Database, mode: str) -> None:
    """The table goes back to an older state (rows after id 20 gone, the sequence restarted there, as a restored
    backup): the old rows are not replayed, the reused ids are delivered as the new entries they are."""
    with Running(db.pos_dsn(), None, mode=mode, poll_interval_s=0.1) as run:
        assert run.wait_listening()
        first = simulate.insert_entries(db.admin_dsn(), count=30)
        assert run.wait_ids({e.entry_id for e in first})
        top = max(e.entry_id for e in first)
        with db.connect_admin() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM registro_entradas WHERE id_entrada > %s", (top - 10,))
            cur.execute("SELECT pg_get_serial_sequence('registro_entradas', 'id_entrada')")
            (seq,) = cur.fetchone()  # type: ignore[misc]
            cur.execute(f"ALTER SEQUENCE {seq} RESTART WITH {top - 9}")
        time.sleep(1.5)  # a sweep notices
        again = simulate.insert_entries(db.admin_dsn(), count=5)
        assert {e.entry_id for e in again} <= {e.entry_id for e in first}
        assert run.wait(lambda: len(run.ids()) >= 35, timeout=5), len(run.ids())
        time.sleep(1.0)
        ids = run.ids()
        assert len(ids) == 35 and set(ids[30:]) == {e.entry_id for e in again}
