"""The engine's life cycle at the seams: every socket closed on stop, a DNS lookup that never answers, and the
desk's reload swap (issue 11 item 6): one writer per cursor file, an abandoned engine posts and writes nothing."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from agent.core.events import ConnState, EntryReceived, Event
from agent.db import simulate
from agent.db.engine import EngineConfig, ListenerEngine
from tests.conftest import Database
from tests.engine_helpers import FAST, Running
from tests.fake_dns import RESOLV_CONF

REPO = Path(__file__).resolve().parent.parent


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_stop_closes_every_socket_it_opened(db: Database) -> None:
    before = _open_fds()
    with Running(db.pos_dsn(), None) as run:  # listening, one entry delivered, then stopped
        assert run.wait_listening()
        (e,) = simulate.insert_entries(db.admin_dsn(), count=1)
        assert run.wait_ids({e.entry_id})
        during = _open_fds()
        assert len(during - before) >= 3, "a connection and a wake-up socket pair were open"
    assert run.engine.stop(timeout_s=2.0) is True
    # Backing off from a refused port, then stopped; and one never started.
    refused = Running(f"host=127.0.0.1 port={_closed_port()} dbname=x user=y", None)
    with refused:
        assert refused.wait(lambda: any(s.state is ConnState.BACKING_OFF for s in refused.states))
    never = ListenerEngine(EngineConfig(dsn=db.pos_dsn()), queue.Queue())
    assert never.stop(timeout_s=0.1) is True
    time.sleep(0.1)
    leaked = _open_fds() - before
    assert not leaked, [os.readlink(f"/proc/self/fd/{fd}") for fd in leaked if os.path.exists(f"/proc/self/fd/{fd}")]


def _closed_port() -> int:
    from agent.db.throwaway import free_port

    return free_port()


class _HangingClock:
    """The engine's clock, made to block once armed: stands for any call the worker cannot be woken from."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.release = threading.Event()
        self.blocked = threading.Event()

    def __call__(self) -> float:
        if self.armed.is_set() and threading.current_thread().name == "aviso-listener":
            self.blocked.set()
            self.release.wait()
        return time.monotonic()


def _engine(db: Database, cursor: Path, events: queue.Queue[Event], **kw: object) -> ListenerEngine:
    cfg = EngineConfig(dsn=db.pos_dsn(), cursor_path=cursor, require_ack=True, **{**FAST, **kw})  # type: ignore[arg-type]
    return ListenerEngine(cfg, events)


def _wait(pred: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def _drain(q: queue.Queue[Event]) -> list[Event]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


@pytest.mark.parametrize("abandon", [True, False], ids=["abandoned", "taken-over"])
def test_swap_with_a_stuck_engine_keeps_one_writer(db: Database, tmp_path: Path, abandon: bool) -> None:
    """Engine A hangs (its clock blocks); the desk's swap: stop(timeout) says False, (abandon), start B on the
    same cursor file. B delivers and saves; when A wakes up it neither overwrites B's cursor nor (abandoned)
    posts anything."""
    cursor = tmp_path / "cursor.json"
    clock = _HangingClock()
    events_a: queue.Queue[Event] = queue.Queue()
    a = ListenerEngine(
        EngineConfig(dsn=db.pos_dsn(), cursor_path=cursor, require_ack=True, **FAST),  # type: ignore[arg-type]
        events_a,
        clock=clock,
    )
    a.start()
    try:
        assert _wait(lambda: any(getattr(e, "state", None) is ConnState.LISTENING for e in list(events_a.queue)))
        (first,) = simulate.insert_entries(db.admin_dsn(), count=1)
        assert _wait(lambda: any(isinstance(e, EntryReceived) for e in list(events_a.queue)))
        # never acknowledged: A's ledger stays dirty, so A *would* save again at its exit
        clock.armed.set()
        assert clock.blocked.wait(10), "A's worker is stuck"
        assert a.stop(timeout_s=0.5) is False
        if abandon:
            a.abandon()
        _drain(events_a)
        events_b: queue.Queue[Event] = queue.Queue()
        b = _engine(db, cursor, events_b)
        b.start()
        later = simulate.insert_entries(db.admin_dsn(), count=3)
        assert _wait(lambda: {e.entry.entry_id for e in list(events_b.queue) if isinstance(e, EntryReceived)}
                     >= {x.entry_id for x in later}, 15)  # fmt: skip
        for x in [first, *later]:
            b.ack(x.entry_id)
        assert b.stop(timeout_s=3.0) is True
        saved = cursor.read_text(encoding="utf-8")
        assert json.loads(saved)["cursor_id"] >= later[-1].entry_id
        clock.release.set()  # A wakes up, sees stop, and runs its exit path (which saves when it may)
        assert _wait(lambda: not a.alive, 10)
        assert cursor.read_text(encoding="utf-8") == saved, "the stuck engine overwrote the cursor"
        assert not list(tmp_path.glob("*.tmp"))
        late = _drain(events_a)
        if abandon:
            assert late == [], f"an abandoned engine posted {late}"
    finally:
        clock.release.set()
        a.stop(timeout_s=2.0)


@pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare (a private mount namespace for /etc/resolv.conf)",
)
def test_dns_lookup_that_never_answers_freezes_nothing_and_stop_is_prompt(db: Database) -> None:
    """libpq resolves host names with a blocking getaddrinfo while psycopg2 holds the GIL: without our own
    lookup in a helper thread, a DNS server that never answers froze every thread of the process."""
    if not getattr(db.server, "can_restart", False):
        pytest.skip("needs the throwaway server")
    conf_dir = Path(tempfile.mkdtemp(prefix="aviso-dns-"))
    try:
        conf = conf_dir / "resolv.conf"
        conf.write_text(RESOLV_CONF.format(address="127.0.0.77"), encoding="utf-8")
        script = (
            f"mount --bind {conf} /etc/resolv.conf && exec {sys.executable} -m tests.engine_dns_scenario "
            f'{db.server.port} {db.name} "$AVISO_TEST_PW"'
        )
        env = {**os.environ, "AVISO_TEST_PW": db.pos_password, "PYTHONPATH": str(REPO)}
        proc = subprocess.run(
            ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=90, cwd=REPO, env=env
        )
    finally:
        shutil.rmtree(conf_dir, ignore_errors=True)
    if proc.returncode != 0 and "unshare failed" in proc.stderr:
        pytest.skip(f"no mount namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["dns_queries_while_hung"] >= 1, out
    assert out["connecting"] == ["connecting"], out  # still trying: neither failed nor connected
    assert out["ticks_in_hang"] >= 12, f"the process froze during the lookup: {out}"
    assert out["stopped"] is True and out["stop_s"] < 1.0, out
    assert out["listening"] is True and str(out["server"]).startswith("turnstile.test:"), out


def test_host_resolved_before_libpq_and_left_alone_where_libpq_needs_no_lookup() -> None:
    from agent.db.connect import connection_kwargs
    from agent.db.resolve import ResolveError, with_hostaddr
    from agent.db.waiting import Waker

    waker = Waker()
    try:

        def resolve(dsn: str) -> dict[str, object]:
            kwargs = connection_kwargs(dsn, password="s3cret")
            return with_hostaddr(kwargs, timeout_s=5.0, waker=waker, clock=time.monotonic, interrupted=lambda: False)

        out = resolve("host=localhost port=5432 dbname=x user=y")
        from psycopg2.extensions import parse_dsn

        params = parse_dsn(str(out["dsn"]))
        addrs = params["hostaddr"].split(",")
        assert "127.0.0.1" in addrs and params["host"].split(",") == ["localhost"] * len(addrs)
        assert out["password"] == "s3cret" and "s3cret" not in repr(out)
        for unchanged in (
            "host=127.0.0.1 dbname=x",
            "host=::1 dbname=x",
            "host=/var/run/postgresql dbname=x",
            "host=a,b dbname=x",
            "host=localhost port=5432,5433 dbname=x",
            "host=localhost hostaddr=127.0.0.1 dbname=x",
        ):
            assert resolve(unchanged)["dsn"] == connection_kwargs(unchanged)["dsn"], unchanged
        with pytest.raises(ResolveError, match="could not translate host name"):
            resolve("host=no-such-host.invalid dbname=x")
    finally:
        waker.close()
