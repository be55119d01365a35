"""Chaos against a real server while a turnstile inserts ~20 entries/s: every member entry exactly once.

Each test runs an inserter thread (members and some visitors, one autocommit INSERT each, like a turnstile) and
breaks the listener's world in one way: its backend killed, the server restarted (fast and immediate), the network
black-holed, the server down at start, a wrong password.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import psycopg2
import pytest

from agent.core.events import ConnState
from agent.db import throwaway
from tests.conftest import Database
from tests.engine_helpers import Running, assert_exactly_once
from tests.tcp_proxy import TcpProxy

restart = pytest.mark.restart


class Turnstile:
    """Inserts at ``rate`` entries/s (every 5th a visitor) until stopped; survives the server being away."""

    def __init__(self, dsn: str, rate: float = 20.0) -> None:
        self.dsn, self.rate = dsn, rate
        self.members: set[int] = set()
        self.visitors: set[int] = set()
        self.failed_attempts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Turnstile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        conn = None
        n = 0
        while not self._stop.wait(1 / self.rate):
            try:
                if conn is None or conn.closed:
                    conn = psycopg2.connect(self.dsn, connect_timeout=2)
                    conn.autocommit = True
                    # The throwaway server runs with synchronous_commit=off (speed): an immediate restart may then
                    # lose a transaction whose commit already returned (PostgreSQL docs, "Asynchronous Commit"),
                    # and the test would blame the listener for a row the server itself lost. A turnstile commits
                    # durably: so does this one.
                    with conn.cursor() as cur:
                        cur.execute("SET synchronous_commit = on")
                visitor = n % 5 == 4
                with conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (%s, %s) RETURNING id_entrada",
                        (None if visitor else 1 + n % 8, "visitante" if visitor else "miembro"),
                    )
                    (entry_id,) = cur.fetchone()
                (self.visitors if visitor else self.members).add(int(entry_id))
                n += 1
            except psycopg2.Error:
                self.failed_attempts += 1
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
        if conn is not None:
            conn.close()


def _kill_listener(db: Database) -> int:
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'aviso-entradas'"
        )
        return int(cur.fetchone()[0])


def _finish(run: Running, turnstile: Turnstile, timeout: float = 20.0) -> None:
    turnstile.stop()
    assert turnstile.members, "the turnstile inserted nothing"
    assert run.wait_ids(turnstile.members, timeout=timeout), f"missing {sorted(turnstile.members - set(run.ids()))}"
    time.sleep(1.5)  # a sweep more: anything extra or duplicated would show up now
    assert_exactly_once(run.ids(), turnstile.members)


def test_backend_killed_repeatedly(db: Database) -> None:
    with Running(db.pos_dsn(), None) as run, Turnstile(db.admin_dsn()) as turnstile:
        assert run.wait_listening()
        kills = 0
        for _ in range(5):
            time.sleep(0.6)
            kills += _kill_listener(db)
            assert run.wait_listening(after=len(run.states))
        assert kills >= 4
        _finish(run, turnstile)


@pytest.fixture
def own_server(pg_server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres) -> Iterator[None]:
    if not pg_server.can_restart:
        pytest.skip("AVISO_PG_DSN names an external server: it cannot be restarted")
    yield


@restart
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_server_restarted(db: Database, own_server: None, mode: str) -> None:
    with Running(db.pos_dsn(), None) as run, Turnstile(db.admin_dsn()) as turnstile:
        assert run.wait_listening()
        time.sleep(1.0)
        before = len(run.states)
        db.server.restart(mode)
        assert run.wait_listening(after=before, timeout=15)
        time.sleep(1.0)
        _finish(run, turnstile)
        assert any(s.state is ConnState.BACKING_OFF and s.reason for s in run.states[before:])


def test_network_black_hole_then_recovery(db: Database) -> None:
    proxy = TcpProxy(db.server.host, db.server.port).start()
    try:
        dsn = db.server.dsn(dbname=db.name, user="pos_user", password=db.pos_password, port=proxy.port)
        with Running(dsn, None) as run, Turnstile(db.admin_dsn()) as turnstile:
            assert run.wait_listening()
            time.sleep(0.5)
            proxy.blackhole()
            lost = time.monotonic()
            # heartbeat 1 s + query timeout 1 s in these tests: noticed within ~2 s (default bound: 25 s)
            assert run.wait(lambda: run.states[-1].state is ConnState.BACKING_OFF, timeout=6)
            noticed = time.monotonic() - lost
            assert noticed < 4, f"dead link noticed after {noticed:.1f} s"
            time.sleep(1.5)
            proxy.recover()
            assert run.wait_listening(after=len(run.states) - 1, timeout=10)
            time.sleep(0.5)
            _finish(run, turnstile)
    finally:
        proxy.close()


@restart
def test_server_down_when_the_agent_starts(db: Database, own_server: None) -> None:
    server = db.server
    assert isinstance(server, throwaway.ThrowawayPostgres)
    server.stop_server_only("fast")
    try:
        run = Running(db.pos_dsn(), None)
        with run:
            assert run.wait(lambda: any(s.state is ConnState.BACKING_OFF for s in run.states), timeout=5)
            assert run.states[-1].reason
        # keep it down a little longer, then bring it back and start the turnstile before the agent reconnects
    finally:
        server.start_again()
    with Running(db.pos_dsn(), None, backoff_base_s=1.0, backoff_cap_s=1.0) as run, Turnstile(db.admin_dsn()) as ts:
        server.stop_server_only("immediate")
        time.sleep(1.0)
        server.start_again()
        assert run.wait_listening(timeout=15)
        time.sleep(1.0)
        _finish(run, ts)


def test_wrong_password_slow_retries_clear_state_no_secret_in_logs(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wr0ng-pässwörd-" + db.pos_password[-6:]
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS pos_user_b")
        cur.execute("CREATE ROLE pos_user_b LOGIN PASSWORD 'the-right-one' IN ROLE pos_user")
    dsn = db.server.dsn(dbname=db.name, user="pos_user_b")
    caplog.set_level(logging.DEBUG)
    try:
        with Running(dsn, wrong, auth_retry_s=60.0) as run, Turnstile(db.admin_dsn()) as turnstile:
            assert run.wait(lambda: any(s.state is ConnState.AUTH_FAILED for s in run.states), timeout=10)
            failed = next(s for s in run.states if s.state is ConnState.AUTH_FAILED)
            assert failed.reason and failed.retry_in_s == 60.0
            time.sleep(2.0)
            assert run.engine.stats["connects"] == 1  # slow retries: no second attempt within 60 s
            # IT fixes the password on the server; staff press "reconnect now".
            with db.connect_admin() as conn, conn.cursor() as cur:
                cur.execute("ALTER ROLE pos_user_b PASSWORD %s", (wrong,))
            run.engine.reconnect_now()
            assert run.wait_listening(timeout=10)
            _finish(run, turnstile)
        text = caplog.text + "".join(repr(s) for s in run.states) + repr(run.config)
        assert wrong not in text
    finally:
        with db.connect_admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'pos_user_b'")
            cur.execute("DROP ROLE IF EXISTS pos_user_b")
