"""``python -m agent tray`` / ``demo`` as processes: the demo end to end, the keyring states (none, locked,
blocking: the tray stays up with a clear state and ``--duration`` is honoured), a broken configuration and a
malformed ``--dsn`` (logged, said, exit code != 0), the single-instance lock taken first.
(The demo and keyring tests moved from the old ``test_tray_menu.py``.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def agent(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def tray_env(tmp_path: Path, db: Any | None = None, **extra: str) -> dict[str, str]:
    """A configured user (server of ``db``) with no keyring, no PGPASSWORD, private folders."""
    config = tmp_path / "user.toml"
    if db is not None:
        config.write_text(
            f'[connection]\nhost = "127.0.0.1"\nport = {db.server.port}\ndatabase = "{db.name}"\nuser = "pos_user"\n',
            encoding="utf-8",
        )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DBUS_SESSION_BUS_ADDRESS", "PGPASSWORD", "PYTHON_KEYRING_BACKEND", "DISPLAY")
        and not k.startswith("AVISO_")
    }
    env.update(
        HOME=str(tmp_path),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PGPASSFILE=str(tmp_path / "no-pgpass"),
        AVISO_CONFIG_FILE=str(config),
        AVISO_MACHINE_CONFIG_FILE=str(tmp_path / "machine.toml"),
        AVISO_LOG_DIR=str(tmp_path / "log"),
        AVISO_RUNTIME_DIR=str(tmp_path / "run"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    env.update(extra)
    return env


def log_of(tmp_path: Path) -> str:
    return (tmp_path / "log" / "aviso-entradas.log").read_text(encoding="utf-8")


def test_demo_headless_end_to_end(tmp_path: Path) -> None:
    """``python -m agent demo --headless``: embedded PostgreSQL, simulated turnstile, console notices."""
    env = dict(os.environ, AVISO_LOG_DIR=str(tmp_path / "log"), AVISO_RUNTIME_DIR=str(tmp_path / "run"))
    env.pop("AVISO_LANG", None)
    proc = agent("demo", "--headless", "--duration", "20", "--interval", "0.5", "--flood-max", "100", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    print(proc.stdout)  # shown when an assertion below fails
    assert any(line.startswith("· Conectado — 127.0.0.1:") for line in lines)
    turnstile = [line.removeprefix("torniquete: ") for line in lines if line.startswith("torniquete: Entrada ")]
    inserted = [line.split(": ", 1)[1] for line in turnstile]
    members_in = [text.split(" (")[0].removeprefix("miembro ") for text in inserted if text.startswith("miembro ")]
    notices = [line for line in lines if line.startswith(("[i] ", "[!] "))]
    titles = [line[4:].split(" — ")[0] for line in notices]
    assert len(members_in) >= 6 and any(t.startswith(("visitante", "empleado")) for t in inserted)
    assert titles == members_in[: len(titles)] and len(titles) >= len(members_in) - 1
    assert "[!] José Ángel Muñoz Ibáñez — Plan Trimestral · Entrada " in proc.stdout
    assert "VENCIDA hace 12 días" in proc.stdout and "ACCESO DENEGADO" in proc.stdout
    # issue 13: the first visit (no earlier entry) and a repeat entry, both from the engine's re-read
    assert any(line.startswith("[i] Ramón Gómez Valdés — ") and line.endswith("Primera visita") for line in lines)
    assert any(line.startswith("[!] María José Peña Núñez — ") and "Entró hace" in line for line in lines)


def test_demo_plan_has_a_first_visit_and_one_repeat_entry_per_cycle() -> None:
    from agent.cli import demo
    from agent.db import demo_data

    ids = {m.key: 100 + i for i, m in enumerate(demo_data.MEMBERS)}
    plan = demo.demo_plan(ids)
    granted = [(step, p["member_id"]) for step, p in enumerate(plan) if p["member_id"] and p["result"] == "permitido"]
    assert ids[demo.FIRST_VISIT_KEY] in [m for _, m in granted]
    window_s = demo.DEMO_REPEAT_MIN * 60
    cycle_s = len(plan) * demo.DEMO_INTERVAL_S
    assert cycle_s > window_s  # the next cycle's entries are not repeats
    repeats = [
        (a, b)
        for i, (a, m1) in enumerate(granted)
        for b, m2 in granted[i + 1 :]
        if m1 == m2 and (b - a) * demo.DEMO_INTERVAL_S <= window_s
    ]
    assert len(repeats) == 1


def test_demo_pace_stays_under_the_flood_limit_and_shows_every_status_in_the_first_minute() -> None:
    """The demo's denied entry used to be folded into "1 entrada más": its pace triggered flood control."""
    from agent.cli import demo
    from agent.core.config import NotificationSettings
    from agent.core.flood import NoticeGate, Summarize
    from agent.db import demo_data

    keys = [m.key for m in demo_data.MEMBERS]
    ids = {key: 100 + i for i, key in enumerate(keys)}
    key_of = {v: k for k, v in ids.items()}
    plan = demo.demo_plan(ids)
    notif = NotificationSettings()
    gate: NoticeGate[int] = NoticeGate(notif.flood_max_count, notif.flood_window_s)
    first_minute: list[str] = []
    outputs: list[Any] = []
    for step in range(len(plan) * 3):
        now = demo.DEMO_FIRST_S + step * demo.DEMO_INTERVAL_S
        item = plan[step % len(plan)]
        outputs += gate.tick(now)
        if item["access_type"] != "miembro":
            continue
        label = key_of[item["member_id"]] + ("/denied" if item["result"] == "denegado" else "")
        if now <= 60.0:
            first_minute.append(label)
        outputs += gate.submit(step, now)
    outputs += gate.tick(1e9)
    assert not [o for o in outputs if isinstance(o, Summarize)]
    # FIRST_VISIT_KEY ("current3", a current membership) is the first minute's "al día" status
    assert {demo.FIRST_VISIT_KEY, "current2/denied", "expired", "expiring", "balance", "birthday"} <= set(first_minute)


def test_demo_plan_over_two_cycles_alerts_one_repeat_per_cycle_and_shows_everything_in_the_first_minute() -> None:
    """A fresh user saw the second cycle raise repeat-entry alerts (``current`` 48 s and ``current2`` 16 s after
    their previous cycle's entries), and the first visit and the employee only after ~72-88 s."""
    from agent.cli import demo
    from agent.db import demo_data

    keys = [m.key for m in demo_data.MEMBERS]
    ids = {key: 100 + i for i, key in enumerate(keys)}
    key_of = {v: k for k, v in ids.items()}
    plan = demo.demo_plan(ids)
    window_s = demo.DEMO_REPEAT_MIN * 60
    last_granted: dict[int, float] = {}  # member id -> time of its latest granted entry
    repeats: list[tuple[int, str]] = []  # (cycle, member key)
    first_minute: set[str] = set()
    for step in range(len(plan) * 2):
        now = demo.DEMO_FIRST_S + step * demo.DEMO_INTERVAL_S
        item = plan[step % len(plan)]
        member_id = item["member_id"]
        if now <= 60.0:
            first_minute.add(item["access_type"] if member_id is None else key_of[member_id])
            if item["result"] == "denegado":
                first_minute.add("denied")
        if member_id is None:
            continue
        previous = last_granted.get(member_id)
        if previous is not None and now - previous <= window_s:
            repeats.append((step // len(plan), key_of[member_id]))
        if item["result"] == "permitido":
            last_granted[member_id] = now
    assert repeats == [(0, "current"), (1, "current")]
    statuses = {"expired", "expiring", "balance", "birthday", "denied"}
    assert statuses | {demo.FIRST_VISIT_KEY, "visitante", "empleado"} <= first_minute
    # the first visit is the first entry of FIRST_VISIT_KEY; the others had one yesterday (demo._earlier_visits)
    assert [p["member_id"] for p in plan].count(ids[demo.FIRST_VISIT_KEY]) == 1


def test_tray_headless_without_a_keyring_says_so(db: Any, tmp_path: Path) -> None:
    """``env -u DBUS_SESSION_BUS_ADDRESS python -m agent tray --headless`` (configured, no keyring) used to say
    the server rejected the password."""
    proc = agent("tray", "--headless", "--duration", "3", env=tray_env(tmp_path, db), timeout=60)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert "No hay un almacén de contraseñas del sistema utilizable" in proc.stdout
    assert "DBUS_SESSION_BUS_ADDRESS" in proc.stdout  # the keyring's own reason, as configure says it
    assert "rechazó" not in proc.stdout and "Contraseña rechazada" not in proc.stdout


def test_a_keyring_that_never_answers_leaves_the_tray_up_with_its_state_and_duration_honoured(
    db: Any, tmp_path: Path
) -> None:
    """A locked Secret Service whose unlock prompt nobody answers used to hang the tray (``--duration``
    ignored, empty log) and every later start with it."""
    env = tray_env(
        tmp_path,
        db,
        PYTHON_KEYRING_BACKEND="blocking_keyring.BlockingKeyring",
        PYTHONPATH=str(ROOT / "tests"),
    )
    started = time.monotonic()
    first = subprocess.Popen(
        [sys.executable, "-m", "agent", "tray", "--headless", "--duration", "8"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        second = agent("tray", "--headless", "--duration", "3", env=env, timeout=30)  # lock first: exits at once
        assert second.returncode == 3 and "ya se está ejecutando" in second.stdout
        out, err = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    elapsed = time.monotonic() - started
    print(out, err)
    assert first.returncode == 0, err
    assert elapsed < 8 + 5 + 6  # duration + the keyring timeout + start-up: never hangs
    assert "no respondió en 5 s" in out  # the state's reason, within the start-up time
    log = log_of(tmp_path)
    assert "KeyringTimedOut" in log and "keyring: El llavero del sistema no respondió" in log


def test_a_broken_config_is_logged_and_said_with_exit_code_2(tmp_path: Path) -> None:
    env = tray_env(tmp_path)
    (tmp_path / "user.toml").write_text("[connection]\nport = 'not a number'\n", encoding="utf-8")
    proc = agent("tray", "--headless", "--duration", "2", env=env, timeout=30)
    assert proc.returncode == 2
    assert "Aviso de Entradas no pudo iniciar" in proc.stderr and "aviso-entradas.log" in proc.stderr
    assert "configuration error" in log_of(tmp_path)


def test_a_malformed_dsn_is_never_echoed(tmp_path: Path) -> None:
    env = tray_env(tmp_path)
    proc = agent("tray", "--headless", "--duration", "2", "--dsn", "host=x password='s3cr3t", env=env, timeout=30)
    assert proc.returncode == 2
    assert "s3cr3t" not in proc.stdout + proc.stderr + log_of(tmp_path)
    assert "mal formada" in proc.stderr


def test_lock_dir_without_xdg_runtime_dir_prints_no_warning(tmp_path: Path) -> None:
    """Every headless run printed platformdirs' ``RuntimeDirWarning: XDG_RUNTIME_DIR is not set``."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "AVISO_RUNTIME_DIR")}
    env.update(TMPDIR=str(tmp_path), PYTHONWARNINGS="default")
    code = (
        "import logging, sys; logging.basicConfig(stream=sys.stdout, level=logging.INFO, format='%(message)s')\n"
        "from agent.adapters.single_instance_posix import default_lock_dir, LockFileInstance\n"
        "d = default_lock_dir('AvisoLockTest'); print('DIR', d)\n"
        "assert LockFileInstance('x', d).acquire()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeDirWarning" not in proc.stderr and proc.stderr == ""
    assert f"DIR {tmp_path}/runtime-{os.getuid()}/AvisoLockTest" in proc.stdout
    assert "XDG_RUNTIME_DIR is not set" in proc.stdout  # logged, not lost


def test_demo_at_its_default_pace_shows_the_denied_entry_itself_and_prints_no_warning(tmp_path: Path) -> None:
    """Default interval and flood limit: the second simulated entry (a denied passage, 9 s in) is its own
    critical notice, not "1 entrada más"; no platformdirs warning without ``XDG_RUNTIME_DIR``."""
    # platformdirs' fallback is $TMPDIR/runtime-<uid>: a private TMPDIR keeps the demo's lock away from a demo
    # someone runs on this machine; it must be reachable by the postgres user (initdb runs as that user).
    tmpdir = tempfile.mkdtemp(prefix="aviso-demo-test-")
    os.chmod(tmpdir, 0o755)  # noqa: S103 (a test directory the postgres user must enter)
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "AVISO_RUNTIME_DIR", "AVISO_LANG")}
    env.update(AVISO_LOG_DIR=str(tmp_path / "log"), TMPDIR=tmpdir)
    try:
        proc = agent("demo", "--headless", "--duration", "12", env=env)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeDirWarning" not in proc.stderr and "XDG_RUNTIME_DIR" not in proc.stderr
    lines = proc.stdout.splitlines()
    turnstile = [line for line in lines if line.startswith("torniquete: Entrada ")]
    assert len(turnstile) >= 2 and "(denegado)" in turnstile[1]
    assert any(line.startswith("[!] Lucía Fernández Guzmán — ") and "ACCESO DENEGADO" in line for line in lines), (
        "the denied passage must be its own notice"
    )
    assert not any("entrada más" in line or "entradas más" in line for line in lines)


def test_a_locked_secret_service_collection_is_said_as_locked(db: Any, tmp_path: Path) -> None:
    """A real GNOME Keyring (private D-Bus session) whose login collection is locked and cannot prompt (no
    display): keyring raises ``KeyringLocked``; the tray says "Llavero bloqueado" with the fix, and runs on."""
    if shutil.which("gnome-keyring-daemon") is None or shutil.which("dbus-run-session") is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("gnome-keyring-daemon and dbus-run-session are needed (build/dev.sh installs them)")
        pytest.skip("gnome-keyring-daemon / dbus-run-session not installed")
    env = tray_env(tmp_path, db, XDG_RUNTIME_DIR=str(tmp_path / "xdg-run"))
    (tmp_path / "xdg-run").mkdir(mode=0o700)
    lock = (
        "import keyring.backends.SecretService as S, secretstorage\n"
        "S.Keyring().set_password('AvisoEntradas', 'x', 'y')\n"
        "secretstorage.get_default_collection(secretstorage.dbus_init()).lock()\n"
    )
    script = (
        "printf pw | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null\n"
        f'{sys.executable} -c "$LOCK"\n'
        f"exec {sys.executable} -m agent tray --headless --duration 4\n"
    )
    proc = subprocess.run(
        ["dbus-run-session", "--", "bash", "-c", script],
        cwd=ROOT,
        env=dict(env, LOCK=lock),
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert "Llavero bloqueado: " in proc.stdout
    assert "keyring: Llavero bloqueado" in log_of(tmp_path)


def test_the_tray_honours_poll_mode_with_no_trigger_installed(db: Any, tmp_path: Path) -> None:
    """``connection.mode = "poll"`` (issue 12): the tray needs no trigger; every entry inserted while it runs
    reaches the console notifier once."""
    from agent.db import simulate

    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute("DROP TRIGGER aviso_nueva_entrada ON registro_entradas")
        cur.execute("SELECT id_miembro, nombre FROM miembros ORDER BY id_miembro LIMIT 1")
        member_id, first_name = cur.fetchone()
    env = tray_env(
        tmp_path, AVISO_CONNECTION_MODE="poll", AVISO_CONNECTION_POLL_INTERVAL_S="0.3", PGPASSWORD=db.pos_password
    )
    dsn = db.server.dsn(dbname=db.name, user="pos_user")
    assert db.pos_password not in dsn
    proc = subprocess.Popen(
        # the password comes from PGPASSWORD (set above), never from argv
        [sys.executable, "-m", "agent", "tray", "--headless", "--duration", "12", "--dsn", dsn],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        log_file = tmp_path / "log" / "aviso-entradas.log"
        while time.monotonic() < deadline:  # connected (poll mode says so in the log) before the entries go in
            if log_file.exists() and "modo poll" in log_file.read_text(encoding="utf-8"):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the tray never started polling")
        entries = simulate.insert_entries(db.admin_dsn(), count=3, member_id=member_id, rate_per_s=5)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.count(first_name) >= 3, out  # one notice per entry (3 entries of the same member: repeat alerts)
    log = log_of(tmp_path)
    for entry in entries:  # each shown once, by the console notifier
        assert log.count(f"via console: entry-{entry.entry_id}\n") == 1, log[-3000:]


def test_the_demo_serves_todays_page_and_publishes_entries_to_it_live(tmp_path: Path) -> None:
    """The composition wires the local page (issue 13): the demo prints its address; ``api/today`` lists the
    entries read from the table and the ``events`` stream carries an entry the desk handled after the page was
    opened (the desk's entry listener → ``TodayPage.publish``)."""
    import json
    import re
    import urllib.request

    env = dict(os.environ, AVISO_LOG_DIR=str(tmp_path / "log"), AVISO_RUNTIME_DIR=str(tmp_path / "run"))
    env.pop("AVISO_LANG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "demo", "--headless", "--duration", "40", "--interval", "0.5"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = re.search(r"(http://127\.0\.0\.1:\d+/[A-Za-z0-9_-]{20,}/)", line)
            url = match.group(1) if match else ""
        assert url, "the demo printed no page address"
        with urllib.request.urlopen(url + "events", timeout=20) as stream:  # SSE: "event: entry" + "data: {row}"
            frames = iter(stream)
            next(raw for raw in frames if raw.startswith(b"event: entry"))
            live = json.loads(next(frames)[len(b"data:") :])
        assert isinstance(live["id"], int) and live["name"]  # a row the desk published after the page was opened
        time.sleep(1.0)
        with urllib.request.urlopen(url + "api/today", timeout=10) as answer:
            today = json.loads(answer.read())
        assert today["db_ok"] and len(today["rows"]) >= 2, today
        # the demo plan's first entry is the first visit of FIRST_VISIT_KEY (Ramón Gómez Valdés)
        assert any("Ramón Gómez" in row["name"] for row in today["rows"]), today["rows"][:3]
        with pytest.raises(urllib.error.HTTPError):  # the address without its token is not served
            urllib.request.urlopen(url.rsplit("/", 2)[0] + "/api/today", timeout=5)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_doctor_with_a_keyring_that_never_answers_says_so_and_still_checks(db: Any, tmp_path: Path) -> None:
    """``doctor`` read the keyring with no bound: a locked collection whose prompt nobody answers hung it. Now the
    read goes through the one connection path (5 s bound): doctor says the keyring's state and runs its checks."""
    env = tray_env(
        tmp_path,
        db,
        PYTHON_KEYRING_BACKEND="blocking_keyring.BlockingKeyring",
        PYTHONPATH=str(ROOT / "tests"),
    )
    started = time.monotonic()
    proc = agent("--lang", "en", "doctor", "--json", env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < 30, elapsed
    assert "keyring" in proc.stderr.lower(), proc.stderr  # the keyring's state, said on stderr
    report = json.loads(proc.stdout)
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["port"]["status"] == "ok"  # the network checks ran without the password
    assert checks["auth"]["status"] == "fail" and proc.returncode == 1
