"""Poll mode (issue 12 item 4): no trigger, no LISTEN, SELECT on the minimal columns only; every entry once,
late commits included, against a plain server and against a hot-standby replica."""

from __future__ import annotations

import os
import secrets
import time

import psycopg2
import pytest

from agent.core import names
from agent.core.advice import Problem, explain
from agent.core.events import ConnState
from agent.core.model import Source
from agent.db import setup, simulate, throwaway
from agent.db.engine import EngineConfig
from tests.conftest import Database
from tests.engine_helpers import Running, assert_exactly_once
from tests.pg_replica import standby_of, wait_replayed


def _drop_trigger(dsn: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP TRIGGER IF EXISTS {names.TRIGGER_NAME} ON {names.ENTRIES_TABLE}")
        cur.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", (names.ENTRIES_TABLE,)
        )
        assert cur.fetchone() == (0,)
    conn.close()


def _minimal_role(db: Database) -> tuple[str, str]:
    """A login role with SELECT on the minimal columns only (README "Minimal columns") and nothing else."""
    role, password = f"poll_{secrets.token_hex(4)}", "pw-" + secrets.token_hex(8)
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD %s", (password,))
        cur.execute(f"GRANT SELECT (id_entrada, id_miembro, tipo_acceso, fecha_hora) ON registro_entradas TO {role}")
        cur.execute(f"GRANT SELECT (id_miembro, nombre, apellido) ON miembros TO {role}")
    return role, password


def _drop_role(db: Database, role: str) -> None:
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(f"DROP OWNED BY {role}")
        cur.execute(f"DROP ROLE {role}")


def test_poll_mode_without_trigger_delivers_every_entry_once_late_commits_included(db: Database) -> None:
    _drop_trigger(db.admin_dsn())
    role, password = _minimal_role(db)
    dsn = db.server.dsn(dbname=db.name, user=role)
    try:
        with Running(dsn, password, mode="poll", poll_interval_s=0.1) as run:
            assert run.wait_listening()
            assert run.engine.stats["notifies"] == 0
            members = simulate.insert_entries(db.admin_dsn(), count=40, rate_per_s=100)
            simulate.insert_entries(db.admin_dsn(), count=5, access_type="visitante")
            # A late commit: a lower id that becomes visible after a higher one was delivered.
            slow = db.connect_admin(autocommit=False)
            with slow.cursor() as cur:
                cur.execute(
                    "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (2, 'miembro') RETURNING id_entrada"
                )
                (low_id,) = cur.fetchone()  # type: ignore[misc]
            (fast,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=3)
            assert run.wait_ids({fast.entry_id, *(m.entry_id for m in members)})
            time.sleep(0.3)
            slow.commit()
            slow.close()
            expected = {low_id, fast.entry_id, *(m.entry_id for m in members)}
            assert run.wait_ids(expected)
            time.sleep(0.5)  # a few more polls: nothing twice
            assert_exactly_once(run.ids(), expected)
            assert {e.source for e in run.entries} == {Source.LIVE}
            entry = run.entries[0].entry
            assert entry.member is not None and entry.member.first_name and entry.member.plan is None
            assert run.engine.stats["polls"] >= 5
            assert [s.state for s in run.states] == [ConnState.CONNECTING, ConnState.LISTENING]
    finally:
        _drop_role(db, role)


def test_poll_mode_latency_is_about_one_interval(db: Database) -> None:
    _drop_trigger(db.admin_dsn())
    with Running(db.pos_dsn(), None, mode="poll", poll_interval_s=0.2) as run:
        assert run.wait_listening()
        lags = []
        for _ in range(5):
            (e,) = simulate.insert_entries(db.admin_dsn(), count=1)
            t0 = time.monotonic()
            assert run.wait_ids({e.entry_id}, timeout=3)
            lags.append(time.monotonic() - t0)
        assert max(lags) < 0.2 + 0.25, lags


def test_poll_interval_is_validated() -> None:
    with pytest.raises(ValueError, match="poll_interval_s"):
        EngineConfig(dsn="", mode="poll", poll_interval_s=0)
    with pytest.raises(ValueError, match="unknown mode"):
        EngineConfig(dsn="", mode="listen")


def test_poll_mode_on_a_hot_standby(pos_password: str) -> None:
    """A streaming replica cannot LISTEN (the NOTIFY mode fails there as read-only); poll mode delivers every
    entry once from it, with no trigger on the primary."""
    if os.environ.get("AVISO_PG_DSN"):
        pytest.skip("needs throwaway servers (AVISO_PG_DSN points at an external one)")
    with throwaway.ThrowawayPostgres(os.environ.get("AVISO_PG_BACKEND", "auto")) as primary:
        admin = psycopg2.connect(primary.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE torniquete_db")
        admin.close()
        conn = psycopg2.connect(primary.dsn(dbname="torniquete_db"))
        setup.apply(conn, schema=True, pos_password=pos_password, demo_data=True)
        conn.close()
        _drop_trigger(primary.dsn(dbname="torniquete_db"))
        with standby_of(primary) as port:
            standby = f"host=127.0.0.1 port={port} dbname=torniquete_db user={names.ROLE}"
            throwaway.wait_until_accepting(f"{standby} password={pos_password}", 30)
            with Running(standby, pos_password) as notify:  # the NOTIFY mode cannot work there
                assert notify.wait(lambda: any(s.state is ConnState.BACKING_OFF for s in notify.states))
                backing = [s for s in notify.states if s.state is ConnState.BACKING_OFF]
                assert backing[0].reason == explain(Problem.READ_ONLY), backing[0].reason
            with Running(standby, pos_password, mode="poll", poll_interval_s=0.1) as run:
                assert run.wait_listening()
                inserted = simulate.insert_entries(primary.dsn(dbname="torniquete_db"), count=30, rate_per_s=60)
                wait_replayed(
                    primary.dsn(dbname="torniquete_db"),
                    f"host=127.0.0.1 port={port} dbname=torniquete_db user=postgres",
                )
                ids = {i.entry_id for i in inserted}
                assert run.wait_ids(ids, timeout=15)
                time.sleep(0.5)
                assert_exactly_once(run.ids(), ids)
                assert run.engine.server.endswith(f":{port}/torniquete_db")


def test_engine_config_from_settings_takes_mode_interval_and_photo_column() -> None:
    import dataclasses

    from agent.core.config import Settings

    s = Settings()
    s = dataclasses.replace(
        s,
        connection=dataclasses.replace(s.connection, mode="poll", poll_interval_s=2.5, channel="Canal"),
        photos=dataclasses.replace(s.photos, column="foto", max_bytes=123_456),
    )
    cfg = EngineConfig.from_settings(s, dsn="host=h", password="pw", require_ack=True)
    assert (cfg.mode, cfg.poll_interval_s, cfg.channel) == ("poll", 2.5, "Canal")
    assert (cfg.photo_column, cfg.photo_max_bytes, cfg.require_ack) == ("foto", 123_456, True)
    assert cfg.sslmode == s.connection.sslmode and "pw" not in repr(cfg)
    assert EngineConfig.from_settings(Settings(), dsn="", password=None).mode == "notify"
