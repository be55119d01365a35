"""The listener engine against a real server: live delivery, the table as the truth, catch-up, persistence."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg2
import pytest

from agent.core.model import Source
from agent.db import setup, simulate
from agent.db.demo_data import BIG_NOTE
from tests.conftest import Database
from tests.engine_helpers import MEMBER_DATE_INDEX, Running, assert_exactly_once
from tests.tcp_proxy import TcpProxy
from tests.test_core_engine import GARBAGE


def _notify(db: Database, payload: str, channel: str = "nueva_entrada_canal") -> None:
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_notify(%s, %s)", (channel, payload))


def _insert_silently(db: Database, member_id: int) -> int:
    """A member entry inserted with our trigger disabled (no NOTIFY at all)."""
    conn = db.connect_admin(autocommit=False)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE registro_entradas DISABLE TRIGGER aviso_nueva_entrada")
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (%s, 'miembro') RETURNING id_entrada",
            (member_id,),
        )
        (entry_id,) = cur.fetchone()
        cur.execute("ALTER TABLE registro_entradas ENABLE TRIGGER aviso_nueva_entrada")
    conn.commit()
    conn.close()
    return int(entry_id)


def test_live_entries_come_from_the_table_members_only(db: Database) -> None:
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        members = simulate.insert_entries(db.admin_dsn(), count=6, rate_per_s=50)
        simulate.insert_entries(db.admin_dsn(), count=3, access_type="visitante")
        simulate.insert_entries(db.admin_dsn(), count=2, access_type="empleado")
        assert run.wait_ids({m.entry_id for m in members})
        time.sleep(0.3)
        assert_exactly_once(run.ids(), {m.entry_id for m in members})
        first = run.entries[0]
        assert first.source is Source.LIVE
        assert first.entry.member is not None and first.entry.member.full_name == "María José Peña Núñez"
        assert first.entry.member.plan == "Mensual" and first.entry.occurred_at.tzinfo is not None


def test_forged_and_garbage_notifications(db: Database) -> None:
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        # A NOTIFY by hand naming an id that does not exist is not delivered.
        _notify(db, json.dumps({"v": 1, "id_entrada": 999_999, "miembro": {"nombre": "Falso", "apellido": "X"}}))
        # Garbage of every kind leaves the loop alive.
        for payload in GARBAGE:
            if payload is not None and "\x00" not in payload and "\ud800" not in payload and len(payload) < 8000:
                _notify(db, payload)
        # A real id with a forged name is delivered with the table's data.
        real = _insert_silently(db, member_id=2)
        _notify(db, json.dumps({"v": 1, "id_entrada": real, "miembro": {"nombre": "Hacker", "apellido": "Evil"}}))
        assert run.wait_ids({real})
        delivered = [e.entry for e in run.entries]
        assert [e.entry_id for e in delivered] == [real]
        assert delivered[0].member is not None and delivered[0].member.full_name == "José Ángel Muñoz Ibáñez"
        assert run.engine.stats["rejected_payloads"] >= 20
        # Still alive: a normal entry after all that.
        (nxt,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=1)
        assert run.wait_ids({nxt.entry_id})
        assert 999_999 not in run.ids()


def test_truncated_payload_is_completed_from_the_table(db: Database) -> None:
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        (big,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=6)  # the 20 KB staff note
        assert run.wait_ids({big.entry_id})
        member = run.entries[0].entry.member
        assert member is not None and member.notes == BIG_NOTE and member.last_name == "Cañete Señorán"


def test_out_of_order_commits_across_a_reconnect(db: Database) -> None:
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        slow = db.connect_admin(autocommit=False)
        with slow.cursor() as cur:
            cur.execute(
                "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (3, 'miembro') RETURNING id_entrada"
            )
            (low_id,) = cur.fetchone()
        (fast,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=4)  # higher id, commits first
        assert fast.entry_id > low_id
        assert run.wait_ids({fast.entry_id})
        listening = len(run.states)
        with db.connect_admin() as admin, admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'aviso-entradas'"
            )
        slow.commit()  # the lower id becomes visible while the listener is away
        slow.close()
        assert run.wait_listening(after=listening)
        assert run.wait_ids({low_id, fast.entry_id})
        assert_exactly_once(run.ids(), {low_id, fast.entry_id})


def test_restart_catches_up_from_the_persisted_cursor_and_summarises_old_entries(db: Database, tmp_path: Path) -> None:
    cursor = tmp_path / "cursor.json"
    with Running(db.pos_dsn(), None, cursor_path=cursor, replay_max_age_s=2.0) as run:
        assert run.wait_listening()
        before = simulate.insert_entries(db.admin_dsn(), count=3)
        assert run.wait_ids({b.entry_id for b in before})
    assert cursor.exists() and "pw" not in cursor.read_text()
    old = simulate.insert_entries(db.admin_dsn(), count=4)  # while the agent is off...
    time.sleep(2.5)  # ...long enough to be older than the replay age
    recent = simulate.insert_entries(db.admin_dsn(), count=2)
    with Running(db.pos_dsn(), None, cursor_path=cursor, replay_max_age_s=2.0) as run:
        assert run.wait_ids({r.entry_id for r in recent})
        assert run.wait(lambda: len(run.summaries) == 1)
        time.sleep(0.3)
        assert run.summaries[0].count == len(old)
        assert_exactly_once(run.ids(), {r.entry_id for r in recent})
        assert all(e.source is Source.CATCHUP for e in run.entries)


def test_first_start_delivers_nothing_older(db: Database) -> None:
    simulate.insert_entries(db.admin_dsn(), count=5)
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        (new,) = simulate.insert_entries(db.admin_dsn(), count=1)
        assert run.wait_ids({new.entry_id})
        time.sleep(0.3)
        assert run.ids() == [new.entry_id]


def test_stop_is_prompt_while_connecting_to_an_unanswering_host(db: Database) -> None:
    proxy = TcpProxy(db.server.host, db.server.port).start()
    proxy.blackhole()
    try:
        dsn = db.server.dsn(dbname=db.name, user="pos_user", password=db.pos_password, port=proxy.port)
        with Running(dsn, None, connect_timeout_s=30.0) as run:
            time.sleep(0.5)
            t0 = time.monotonic()
            assert run.engine.stop(timeout_s=1.0)
            assert time.monotonic() - t0 < 1.0
    finally:
        proxy.close()


def test_mixed_case_channel(db: Database) -> None:
    conn = psycopg2.connect(db.admin_dsn())
    setup.apply(conn, channel="MiCanal")
    conn.close()
    with Running(db.pos_dsn(), None, channel="MiCanal") as run:
        assert run.wait_listening()
        (e,) = simulate.insert_entries(db.admin_dsn(), count=1)
        assert run.wait_ids({e.entry_id}, timeout=3)
        assert run.entries[0].source is Source.LIVE


@pytest.mark.parametrize("role_setup", ["REVOKE SELECT (plan, notas) ON miembros FROM pos_user"])
def test_optional_columns_not_granted_read_as_none(db: Database, role_setup: str) -> None:
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(role_setup)
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        (e,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=6)
        assert run.wait_ids({e.entry_id})
        member = run.entries[0].entry.member
        assert member is not None and member.plan is None and member.notes is None and member.first_name == "Nicolás"


def test_notify_arriving_with_a_query_result_is_not_left_in_libpq_buffer(db: Database) -> None:
    """A second NOTIFY that arrives while the engine re-reads the first entry, and reaches it in the same read as
    that query's answer, is delivered live at once, not at the next sweep.

    Set up with a lock (the engine's re-read of entry 1 waits; NOTIFY 2 is sent meanwhile and a busy backend
    forwards it only after the answer, PostgreSQL docs "NOTIFY") and a proxy that coalesces the server's bytes.
    Note: this scenario did not reproduce the delay a tester saw under CPU load (4 of 25 runs, 0 of 25 with the
    `conn.poll()` before `select()` in `_live`); psycopg2 already hands this NOTIFY over here. It guards the
    scenario; the race itself is not reproduced deterministically."""
    proxy = TcpProxy(db.server.host, db.server.port, coalesce_s=0.3).start()
    try:
        dsn = db.server.dsn(dbname=db.name, user="pos_user", password=db.pos_password, port=proxy.port)
        with Running(dsn, None, heartbeat_s=60.0, query_timeout_s=30.0) as run:
            assert run.wait_listening()
            first = _insert_silently(db, member_id=1)
            second = _insert_silently(db, member_id=2)
            locker = db.connect_admin(autocommit=False)
            with locker.cursor() as cur:
                cur.execute("LOCK TABLE miembros IN ACCESS EXCLUSIVE MODE")
            _notify(db, json.dumps({"v": 1, "id_entrada": first, "truncated": True}))
            time.sleep(0.8)  # the engine is now blocked in its re-read of entry 1
            _notify(db, json.dumps({"v": 1, "id_entrada": second, "truncated": True}))
            time.sleep(0.2)
            locker.commit()  # the answer and NOTIFY 2 reach the engine in one read
            locker.close()
            assert run.wait_ids({first, second}, timeout=5), f"delivered only {run.ids()}"
            assert all(e.source is Source.LIVE for e in run.entries)
    finally:
        proxy.close()


def test_odd_rows_never_stop_delivery(db: Database) -> None:
    """A real turnstile schema with a varchar member id, a timestamp without time zone, a nullable fecha_hora and
    impossible member dates: every entry is still delivered, once (found by the adversarial review)."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE SCHEMA odd;"
            "CREATE TABLE odd.miembros (id_miembro varchar(10) PRIMARY KEY, nombre text, apellido text,"
            " fecha_vencimiento date, fecha_nacimiento date, saldo_pendiente numeric);"
            "CREATE TABLE odd.registro_entradas (id_entrada bigserial PRIMARY KEY, id_miembro varchar(10),"
            " tipo_acceso text NOT NULL, fecha_hora timestamp DEFAULT now());"
            "INSERT INTO odd.miembros VALUES ('M-001', 'Ana', 'Ruiz', '20255-01-31', '0044-03-15 BC', 'NaN'),"
            " ('7', 'Luis', 'Peña', 'infinity', NULL, 0);"
            f"ALTER ROLE pos_user IN DATABASE {db.name} SET search_path = odd;"
            "GRANT USAGE ON SCHEMA odd TO pos_user; GRANT SELECT ON ALL TABLES IN SCHEMA odd TO pos_user;"
        )
    insert = "INSERT INTO odd.registro_entradas (id_miembro, tipo_acceso, fecha_hora) VALUES (%s, 'miembro', {})"
    try:
        with Running(db.pos_dsn(), None) as run:
            assert run.wait_listening()
            ids = []
            with db.connect_admin() as conn, conn.cursor() as cur:
                for member, when in (("M-001", "DEFAULT"), ("7", "NULL"), ("M-001", "DEFAULT")):
                    cur.execute(insert.format(when) + " RETURNING id_entrada", (member,))
                    ids.append(cur.fetchone()[0])
            # No trigger in this schema: the sweep (1 s here) finds them.
            assert run.wait_ids(set(ids), timeout=10), run.ids()
            time.sleep(1.5)
            assert_exactly_once(run.ids(), set(ids))
            first = run.entries[0].entry
            assert first.member_id == "M-001" and first.member is not None and first.member.member_id == "M-001"
            assert first.member.expires_on is None and first.member.birth_date is None
            assert first.occurred_at.tzinfo is not None
            assert run.entries[1].entry.occurred_at.tzinfo is not None  # NULL fecha_hora: the statement's time
            assert run.engine.alive
    finally:
        with db.connect_admin() as conn, conn.cursor() as cur:
            cur.execute(f"ALTER ROLE pos_user IN DATABASE {db.name} RESET search_path")


def test_sweep_runs_under_steady_traffic(db: Database) -> None:
    """An entry whose NOTIFY was skipped is delivered by the sweep even while other entries keep arriving."""
    with Running(db.pos_dsn(), None, heartbeat_s=2.0) as run:
        assert run.wait_listening()
        silent = _insert_silently(db, member_id=3)
        stop = time.monotonic() + 5
        live = []
        while time.monotonic() < stop:  # an entry every 0.3 s: never 2 s of quiet
            live += simulate.insert_entries(db.admin_dsn(), count=1, member_id=1)
            time.sleep(0.3)
        assert run.wait_ids({silent} | {e.entry_id for e in live}, timeout=5), "the skipped entry was starved"
        assert_exactly_once(run.ids(), {silent} | {e.entry_id for e in live})


def test_live_entries_dated_in_the_past_or_future_are_delivered(db: Database) -> None:
    """Turnstile clocks that are behind or ahead: every entry inserted while listening is delivered, and a future
    date does not break the out-of-order protection for the ones after it."""
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        ids = []
        with db.connect_admin() as conn, conn.cursor() as cur:
            for offset in ("-2 days", "-20 minutes", "+1 day"):
                cur.execute(
                    "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora)"
                    " VALUES (1, 'miembro', now() + %s::interval) RETURNING id_entrada",
                    (offset,),
                )
                ids.append(cur.fetchone()[0])
        assert run.wait_ids(set(ids))
        slow = db.connect_admin(autocommit=False)
        with slow.cursor() as cur:
            cur.execute(
                "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (2, 'miembro') RETURNING id_entrada"
            )
            (low,) = cur.fetchone()
        (high,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=3)
        assert run.wait_ids({high.entry_id})
        with db.connect_admin() as admin, admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'aviso-entradas'"
            )
        slow.commit()
        slow.close()
        assert run.wait_ids({low}, timeout=10), "the late commit after a future-dated row was lost"
        assert_exactly_once(run.ids(), {*ids, low, high.entry_id})


def test_acknowledgements_keep_nothing_without_a_saved_ledger(db: Database) -> None:
    """`listen` without --cursor acknowledges every entry: with no ledger file nothing may accumulate."""
    with Running(db.pos_dsn(), None, require_ack=True) as run:
        assert run.wait_listening()
        inserted = simulate.insert_entries(db.admin_dsn(), count=5)
        assert run.wait_ids({e.entry_id for e in inserted})
        for e in inserted:
            run.engine.ack(e.entry_id)
        assert run.engine._delivery.pending_acks() == 0


def test_history_columns_in_the_batched_reread(db: Database) -> None:
    """``previous_entry_at`` = the member's latest earlier *granted* entry; ``first_visit`` = no earlier entry at
    all; both from the one re-read query per batch, and degraded (not failed) without ``resultado``."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO miembros (nombre, apellido) VALUES ('Ana', 'Nueva') RETURNING id_miembro")
        (newcomer,) = cur.fetchone()
        cur.execute("DROP INDEX IF EXISTS registro_entradas_miembro_fecha_idx")
    # Without the (id_miembro, fecha_hora) index the history would scan the table per entry: left out.
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        (z,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=newcomer)
        assert run.wait_ids({z.entry_id})
        assert run.entries[0].entry.first_visit is False and run.entries[0].entry.previous_entry_at is None
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM registro_entradas WHERE id_entrada = %s", (z.entry_id,))
        cur.execute(MEMBER_DATE_INDEX)
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        (a,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=newcomer)
        (b,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=newcomer, result="denegado")
        (c,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=newcomer)
        assert run.wait_ids({a.entry_id, b.entry_id, c.entry_id})
        got = {e.entry.entry_id: e.entry for e in run.entries}
    assert got[a.entry_id].first_visit is True and got[a.entry_id].previous_entry_at is None
    assert got[b.entry_id].first_visit is False and got[b.entry_id].previous_entry_at == a.occurred_at
    assert got[c.entry_id].previous_entry_at == a.occurred_at  # b was denied: not a previous *granted* entry
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("REVOKE SELECT (resultado) ON registro_entradas FROM pos_user")
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        (d,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=newcomer)
        assert run.wait_ids({d.entry_id})
        entry = run.entries[-1].entry
    assert entry.result is None and entry.previous_entry_at == c.occurred_at and not entry.first_visit


def test_photo_column_read_into_member_photo_data(db: Database) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE miembros ADD COLUMN foto bytea")
        cur.execute("UPDATE miembros SET foto = %s WHERE id_miembro = 1", (psycopg2.Binary(jpeg),))
        cur.execute("GRANT SELECT (foto) ON miembros TO pos_user")
    with Running(db.pos_dsn(), None, photo_column="foto") as run:
        assert run.wait_listening()
        (one,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=1)
        (two,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=2)
        assert run.wait_ids({one.entry_id, two.entry_id})
        members = {e.entry.entry_id: e.entry.member for e in run.entries}
    assert members[one.entry_id] is not None and members[one.entry_id].photo_data == jpeg
    assert members[two.entry_id] is not None and members[two.entry_id].photo_data is None
    # Too large for the configured cap, or a column that does not exist: delivered without a photo.
    for overrides in ({"photo_column": "foto", "photo_max_bytes": 100}, {"photo_column": "no_existe"}):
        with Running(db.pos_dsn(), None, **overrides) as run:
            assert run.wait_listening()
            (e,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=1)
            assert run.wait_ids({e.entry_id})
            member = run.entries[-1].entry.member
            assert member is not None and member.photo_data is None and member.first_name


def test_catch_up_loses_nothing_at_the_replay_age_boundary(db: Database, tmp_path: Path) -> None:
    """Entries dated right at ``now() - replay_max_age_s`` go either into the summary or one by one, never
    neither: the backlog and the replay share one cutoff (two statements' ``now()`` differ by a few ms)."""
    cursor = tmp_path / "cursor.json"
    with Running(db.pos_dsn(), None, cursor_path=cursor, replay_max_age_s=5.0) as run:
        assert run.wait_listening()
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora)"
            " SELECT 1 + g % 5, 'miembro', clock_timestamp() - interval '6.5 s' + g * interval '500 microseconds'"
            " FROM generate_series(1, 6000) AS g RETURNING id_entrada"
        )
        inserted = {int(r[0]) for r in cur.fetchall()}
    with Running(db.pos_dsn(), None, cursor_path=cursor, replay_max_age_s=5.0) as run:
        assert run.wait_listening()
        time.sleep(0.3)
        summarized = sum(s.count for s in run.summaries)
        assert summarized > 0 and run.ids(), (summarized, len(run.ids()))
        assert summarized + len(run.ids()) == len(inserted)
        assert set(run.ids()) <= inserted and len(set(run.ids())) == len(run.ids())


def test_a_refused_connection_names_the_configured_port_not_5432() -> None:
    """The tray's tooltip and ``listen``'s state line carry the engine's advice: with a server on another port the
    firewall advice names that port (it said 5432 whatever the configuration)."""
    import queue
    import socket

    from agent.core.events import ConnState, StateChanged
    from agent.db.engine import EngineConfig, ListenerEngine

    with socket.socket() as probe:  # a free port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    events: queue.Queue[object] = queue.Queue()
    engine = ListenerEngine(EngineConfig(dsn=f"host=127.0.0.1 port={port} dbname=x user=y"), events, lang="en")
    engine.start()
    try:
        deadline = time.monotonic() + 10
        reason = ""
        while not reason and time.monotonic() < deadline:
            event = events.get(timeout=10)
            if isinstance(event, StateChanged) and event.state is ConnState.BACKING_OFF:
                reason = event.reason
    finally:
        engine.stop(timeout_s=2.0)
    assert str(port) in reason and "5432" not in reason, reason


def test_history_of_entries_sharing_one_fecha_hora(db: Database) -> None:
    """A bulk insert in one transaction (one ``fecha_hora`` for every row): the SQL probes the history only for
    each member's first row of the statement, the rows tied with it take it from the row before them
    (``EntrySelect.complete_history``). Same answers as probing each row: the earlier rows of the burst are
    earlier entries (by id), so only the first can be a first visit, and each later one's previous granted
    entry is the burst's time once a granted row came before it."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO miembros (nombre, apellido) VALUES ('Bea', 'Lote') RETURNING id_miembro")
        (newcomer,) = cur.fetchone()
        cur.execute(MEMBER_DATE_INDEX)
    with Running(db.pos_dsn(), None) as run:
        assert run.wait_listening()
        denied = simulate.insert_entries(db.admin_dsn(), count=2, member_id=newcomer, burst=True, result="denegado")
        burst = simulate.insert_entries(db.admin_dsn(), count=300, member_id=newcomer, burst=True)
        assert run.wait_ids({e.entry_id for e in [*denied, *burst]}, timeout=30)
        got = {e.entry.entry_id: e.entry for e in run.entries}
    assert len({e.occurred_at for e in burst}) == 1 and len({e.occurred_at for e in denied}) == 1
    first_denied, second_denied = (got[e.entry_id] for e in denied)
    assert first_denied.first_visit is True and first_denied.previous_entry_at is None
    assert second_denied.first_visit is False and second_denied.previous_entry_at is None  # nothing granted yet
    head, *rest = (got[e.entry_id] for e in burst)
    assert head.first_visit is False and head.previous_entry_at is None  # earlier entries, all denied
    at = burst[0].occurred_at
    assert all(not e.first_visit and e.previous_entry_at == at for e in rest)
