"""End to end on a real desktop: the agent process against the test PostgreSQL, under Xvfb with a private D-Bus
session, a real notification daemon (dunst) and a real tray host (trayer). Everything is read back from the
daemon (``dunstctl history``, after ``dunstctl close-all``) and the X server, never from the agent's insides.

The tray uses pystray's xorg backend (the one that docks in trayer without PyGObject): it has no menu, so a left
click on the icon — made here with ``xdotool`` through the X server, as a person would — toggles the pause. The
menu itself is tested headless in ``test_desk_menu.py``.

Skipped (with the reason) only when the desktop packages are missing; in CI (``CI=true``) that is a failure,
since ``build/dev.sh test`` installs them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.db import demo_data, simulate

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
TOOLS = ("Xvfb", "dbus-daemon", "dbus-monitor", "dunst", "dunstctl", "trayer", "xdotool", "import", "xwininfo")
URGENCY = {"0": "LOW", "1": "NORMAL", "2": "CRITICAL"}
ICON_CLASS = "AvisoEntradasSystemTrayIcon"
TRAYER_ARGS = ("--edge", "bottom", "--align", "right", "--widthtype", "request", "--height", "32")
TRAYER_ARGS += ("--SetDockType", "true", "--transparent", "false", "--tint", "0x303030")


def wait_until(check: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


@dataclass
class Desktop:
    env: dict[str, str]
    work: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *cmd: str, check: bool = True) -> str:
        out = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=20)
        if check and out.returncode != 0:
            raise AssertionError(f"{cmd} failed: {out.stderr}")
        return out.stdout

    def bus_notifications(self) -> dict[tuple[str, str], dict[str, str]]:
        """What went over D-Bus (``dbus-monitor``): (summary, body) -> urgency and sound hints of the last Notify."""
        text = (self.work / "bus.log").read_text(encoding="utf-8", errors="replace")
        out = {}
        for block in text.split("method call ")[1:]:
            if "member=Notify" not in block.split("\n", 1)[0]:
                continue
            strings = re.findall(r'^ {3}string "(.*?)"$', block, re.MULTILINE | re.DOTALL)
            stamp = re.search(r"time=(\d+\.\d+)", block.split("\n", 1)[0])
            urgency = re.search(r'string "urgency"\s+variant\s+byte (\d)', block)
            sound = re.search(r'string "sound-name"\s+variant\s+string "([^"]*)"', block)
            out[(strings[2], strings[3])] = {
                "urgency": URGENCY[urgency.group(1)] if urgency else "",
                "sound": sound.group(1) if sound else "",
                "sent_at": stamp.group(1) if stamp else "0",
            }
        return out

    def displayed(self) -> int:
        return int(self.run("dunstctl", "count", "displayed").strip())

    def close_all(self) -> None:
        self.run("dunstctl", "close-all")
        wait_until(lambda: self.displayed() == 0, 5, "dunst to close its popups")

    def history(self, after_id: int = 0) -> list[dict[str, str]]:
        """Closed notifications with an id above ``after_id``, oldest first: summary, body, urgency, appname."""
        data = json.loads(self.run("dunstctl", "history"))["data"][0]
        rows = [{k: str(v["data"]) for k, v in item.items()} for item in data]
        sent = self.bus_notifications()
        for row in rows:  # dunst's history has no urgency: take it from the D-Bus message
            row.update(sent.get((row["summary"], row["body"]), {"urgency": "?", "sound": "?"}))
        return sorted((r for r in rows if int(r["id"]) > after_id), key=lambda r: int(r["id"]))

    def last_id(self) -> int:
        return max((int(r["id"]) for r in self.history()), default=0)

    def _x(self) -> Any:
        import Xlib.display

        return Xlib.display.Display(self.env["DISPLAY"])

    def icon_windows(self, docked_only: bool = True) -> list[str]:
        """Our icon's windows: those docked in the tray host (not children of the root window), or all."""
        import Xlib.error

        display = self._x()
        found: list[str] = []

        def walk(window: Any, depth: int) -> None:
            for child in window.query_tree().children:
                try:
                    wm_class = child.get_wm_class()
                except Xlib.error.XError:
                    continue
                if wm_class and wm_class[0] == ICON_CLASS and (depth > 0 or not docked_only):
                    found.append(str(child.id))
                walk(child, depth + 1)

        try:
            walk(display.screen().root, 0)
        finally:
            display.close()
        return found

    def tray_host_present(self) -> bool:
        display = self._x()
        try:
            owner = display.get_selection_owner(display.intern_atom("_NET_SYSTEM_TRAY_S0"))
        finally:
            display.close()
        return bool(getattr(owner, "id", owner))

    def start_trayer(self) -> None:
        self.procs.append(
            subprocess.Popen(
                ["trayer", *TRAYER_ARGS],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_until(self.tray_host_present, 10, "trayer to own the system tray selection")

    def click_icon(self) -> None:
        (wid,) = wait_until(self.icon_windows, 10, "the tray icon to dock in trayer")
        self.run("xdotool", "mousemove", "--window", wid, "10", "12", "click", "1")


def _desktop_missing() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    missing = _desktop_missing()
    if missing:
        reason = f"desktop packages missing ({', '.join(missing)}): build/dev.sh test installs them as root"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("desktop")
    runtime = work / "run"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "AVISO_LANG", "PGPASSWORD"):
        env.pop(var, None)
    env.update(
        XDG_RUNTIME_DIR=str(runtime),
        XDG_STATE_HOME=str(work / "state"),
        XDG_DATA_HOME=str(work / "data"),
        AVISO_RUNTIME_DIR=str(runtime),
        AVISO_LOG_DIR=str(work / "log"),
        AVISO_CONFIG_FILE=str(work / "config.toml"),
        AVISO_MACHINE_CONFIG_FILE=str(work / "machine.toml"),
        AVISO_CREDENTIALS="memory",
        PYSTRAY_BACKEND="xorg",
    )
    d = Desktop(env, work)
    try:
        bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address=unix:path={work}/bus"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        d.procs.append(bus)
        assert bus.stdout is not None
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().decode().strip()
        monitor_log = open(work / "bus.log", "wb")  # noqa: SIM115 (closed with the process)
        d.procs.append(
            subprocess.Popen(
                ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications',member='Notify'"],
                env=env,
                stdout=monitor_log,
                stderr=subprocess.DEVNULL,
            )
        )
        read_fd, write_fd = os.pipe()
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        d.procs.append(xvfb)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            env["DISPLAY"] = ":" + pipe.readline().strip()
        dunst_log = open(work / "dunst.log", "wb")  # noqa: SIM115 (closed with the process)
        d.procs.append(
            subprocess.Popen(
                ["dunst", "-config", str(ROOT / "build" / "dunstrc")], env=env, stdout=dunst_log, stderr=dunst_log
            )
        )
        wait_until(lambda: d.run("dunstctl", "count", check=False), 10, "dunst on the session bus")
        d.start_trayer()
        yield d
    finally:
        for proc in reversed(d.procs):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(autouse=True)
def _no_agent_left(desktop: Desktop) -> Iterator[None]:
    """A failed test must not leave its agent running (it would hold the single-instance lock)."""
    yield
    for proc in desktop.agents:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    desktop.agents.clear()


@dataclass
class Agent:
    proc: subprocess.Popen[bytes]
    log: Path
    out: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def wait_log(self, needle: str, timeout_s: float = 15, start: int = 0) -> None:
        wait_until(lambda: needle in self.log_text()[start:], timeout_s, f"{needle!r} in the agent log")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


def start_agent(d: Desktop, db: Any, *args: str, docked: bool = True, **env_extra: str) -> Agent:
    out = d.work / f"agent-{time.monotonic_ns()}.out"
    env = dict(d.env, PGPASSWORD=db.pos_password, AVISO_NOTIFIER="dbus", AVISO_TRAY="pystray", AVISO_DEBUG_STACKS="1")
    env.update(env_extra)
    dsn = db.server.dsn(dbname=db.name, user="pos_user")  # no password inside: it comes from PGPASSWORD
    with open(out, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "--lang", "es", "tray", "--dsn", dsn, *args],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    d.agents.append(proc)
    agent = Agent(proc, d.work / "log" / "aviso-entradas.log", out)
    start = len(agent.log_text())
    try:
        agent.wait_log("connection state: listening", timeout_s=30, start=start)
        if docked:
            wait_until(d.icon_windows, 20, "the tray icon to dock in trayer")
    except AssertionError as exc:
        tree = d.run("xwininfo", "-root", "-tree", check=False)[-2000:]
        proc.kill()
        proc.wait()
        output = out.read_text(errors="replace")[-3000:]
        raise AssertionError(
            f"{exc}\nagent output:\n{output}\nlog:\n{agent.log_text()[start:][-3000:]}\n{tree}"
        ) from None
    return agent


def members(db: Any) -> dict[str, dict[str, Any]]:
    conn = db.connect_admin()
    with conn.cursor() as cur:
        cur.execute("SELECT id_miembro, nombre, apellido, fecha_vencimiento FROM miembros")
        rows = cur.fetchall()
    conn.close()
    by_name = {(r[1], r[2]): r for r in rows}
    out = {}
    for m in demo_data.MEMBERS:
        r = by_name[(m.first_name, m.last_name)]
        out[m.key] = {"id": int(r[0]), "name": f"{r[1]} {r[2]}", "plan": m.plan, "expires": r[3]}
    return out


def insert(db: Any, member_id: int | None, access: str = "miembro", result: str = "permitido") -> simulate.Inserted:
    (row,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=member_id, access_type=access, result=result)
    return row


def hhmm(row: simulate.Inserted) -> str:
    return row.occurred_at.astimezone().strftime("%H:%M")


def ddmmyyyy(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def stop_dunst(desktop: Desktop) -> None:
    """The notification daemon goes away (no D-Bus activation brings it back)."""
    dunst = next(p for p in desktop.procs if isinstance(p.args, list) and p.args[0] == "dunst")
    dunst.terminate()
    dunst.wait(timeout=10)
    desktop.procs.remove(dunst)
    wait_until(lambda: not desktop.run("dunstctl", "count", check=False), 10, "dunst gone from the bus")


def start_dunst(desktop: Desktop, log_name: str) -> None:
    """The notification daemon starts again."""
    dunst_log = open(desktop.work / log_name, "wb")  # noqa: SIM115 (closed with the process)
    desktop.procs.append(
        subprocess.Popen(
            ["dunst", "-config", str(ROOT / "build" / "dunstrc")], env=desktop.env, stdout=dunst_log, stderr=dunst_log
        )
    )
    wait_until(lambda: desktop.run("dunstctl", "count", check=False), 10, "dunst back on the session bus")


def test_member_entries_pause_resume_and_quit(desktop: Desktop, db: Any) -> None:
    m = members(db)
    clicked = desktop.work / "clicked.txt"
    script = desktop.work / "click.py"
    script.write_text(f"import sys\nopen({str(clicked)!r}, 'a').write(sys.argv[1] + '\\n')\n")
    agent = start_agent(
        desktop,
        db,
        "--flood-max",
        "10",
        "--flood-window",
        "60",
        AVISO_NOTIFICATIONS_CLICK_ACTION=f"{sys.executable} {script} {{id_miembro}}",  # settings from the env
    )
    desktop.close_all()
    base = desktop.last_id()

    rows = {}
    rows["current"] = insert(db, m["current"]["id"])
    rows["expired"] = insert(db, m["expired"]["id"])
    insert(db, None, access="visitante")
    rows["expiring"] = insert(db, m["expiring"]["id"])
    rows["balance"] = insert(db, m["balance"]["id"])
    insert(db, None, access="empleado")
    rows["birthday"] = insert(db, m["birthday"]["id"])
    rows["denied"] = insert(db, m["current3"]["id"], result="denegado")
    wait_until(lambda: desktop.displayed() >= 6, 10, "six notifications on screen")
    time.sleep(1.0)  # nothing more may come (visitor and employee raise nothing)
    assert desktop.displayed() == 6

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "notification.png"
    desktop.run("import", "-window", "root", "-crop", "480x700+800+0", str(shot))
    assert shot.stat().st_size > 10_000

    # clicking a notification (its default action, as dunst does on a click) runs the click action
    desktop.run("dunstctl", "action", "0")
    wait_until(lambda: clicked.exists() and clicked.read_text().strip(), 10, "the click action to run")
    assert int(clicked.read_text().split()[0]) in {v["id"] for v in m.values()}

    desktop.close_all()
    got = desktop.history(base)
    expected = [
        (m["current"], rows["current"], f"Al día (vence el {ddmmyyyy(m['current']['expires'])})", "NORMAL"),
        (m["expired"], rows["expired"], "VENCIDA hace 12 días", "CRITICAL"),
        (m["expiring"], rows["expiring"], "Vence en 3 días", "NORMAL"),
        (
            m["balance"],
            rows["balance"],
            f"Al día (vence el {ddmmyyyy(m['balance']['expires'])}) · SALDO PENDIENTE: 350,00",
            "CRITICAL",
        ),
        (
            m["birthday"],
            rows["birthday"],
            f"Al día (vence el {ddmmyyyy(m['birthday']['expires'])}) · ¡Hoy es su cumpleaños!",
            "NORMAL",
        ),
        (
            m["current3"],
            rows["denied"],
            f"ACCESO DENEGADO por el torniquete · Al día (vence el {ddmmyyyy(m['current3']['expires'])})",
            "CRITICAL",
        ),
    ]
    # a fresh database: each member's entry is their first visit (issue 13, from the engine's re-read)
    assert [(n["summary"], n["body"], n["urgency"]) for n in got] == [
        (mem["name"], f"Plan {mem['plan']} · Entrada {hhmm(row)}\n{status} · Primera visita", urgency)
        for mem, row, status, urgency in expected
    ]
    assert {n["appname"] for n in got} == {"Aviso de Entradas"}
    # latency: the row's fecha_hora (server clock, same machine) to the Notify call on the bus
    latencies_ms = [
        (float(n["sent_at"]) - row.occurred_at.timestamp()) * 1e3
        for n, (_, row, _, _) in zip(got, expected, strict=True)
    ]
    print(f"insert -> D-Bus Notify latency, ms: {', '.join(f'{x:.1f}' for x in latencies_ms)}")
    assert max(latencies_ms) < 1000
    assert [n["sound"] for n in got] == [
        "dialog-warning" if urgency == "CRITICAL" else "message-new-instant" for *_, urgency in expected
    ]

    # pause by clicking the tray icon: nothing pops up, and resuming gives one summary
    mark = len(agent.log_text())
    desktop.click_icon()
    try:
        agent.wait_log("paused until resumed", timeout_s=5, start=mark)
    except AssertionError:
        agent.proc.send_signal(signal.SIGUSR1)  # the agent's threads, for the failure message
        time.sleep(1)
        raise AssertionError(
            "the click on the tray icon did not pause\n"
            + desktop.run("xwininfo", "-root", "-tree", check=False)[-1500:]
            + agent.out.read_text(errors="replace")[-6000:]
        ) from None
    base = desktop.last_id()
    for key in ("current", "expired", "current2"):
        insert(db, m[key]["id"])
    agent.wait_log("(live): paused", start=mark)
    time.sleep(1.5)
    assert desktop.displayed() == 0
    desktop.click_icon()
    wait_until(lambda: desktop.displayed() >= 1, 10, "the resume summary")
    time.sleep(1.0)
    assert desktop.displayed() == 1
    desktop.close_all()
    (summary,) = desktop.history(base)
    assert summary["summary"] == "Avisos reanudados: 3 entradas durante la pausa"
    # "current" and "expired" entered minutes ago: repeat entries now (warnings), as is the expired membership
    assert summary["body"] == (
        f"{m['current']['name']}, {m['expired']['name']}, {m['current2']['name']}\n"
        f"2 con aviso: {m['current']['name']}, {m['expired']['name']}"
    )
    assert summary["urgency"] == "CRITICAL"

    # quit: exit code 0 and no ghost icon left in the tray
    assert agent.stop() == 0
    assert desktop.icon_windows(docked_only=False) == []
    assert db.pos_password not in agent.log_text()


def test_burst_single_instance_and_catch_up(desktop: Desktop, db: Any) -> None:
    m = members(db)
    ids = [m[k]["id"] for k in ("current", "expired", "expiring", "balance", "birthday", "current2", "current3")]
    agent = start_agent(desktop, db, "--flood-max", "3", "--flood-window", "30")

    # a second start for the same user says so and exits
    env = dict(desktop.env, PGPASSWORD=db.pos_password)
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "--lang",
            "es",
            "tray",
            "--dsn",
            db.server.dsn(dbname=db.name, user="pos_user"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 3
    assert "ya se está ejecutando" in second.stdout

    desktop.close_all()
    base = desktop.last_id()
    mark = len(agent.log_text())
    burst = simulate.insert_entries(db.admin_dsn(), count=10, burst=True, members=ids)
    # 3 normal notices, warnings (repeat entries, the expired membership, the debt) at once on their own budget
    # of 3, the rest as one summary (breakD: warnings are no longer held behind the rush)
    agent.wait_log("via dbus: summary-flood", timeout_s=15, start=mark)
    time.sleep(1.0)
    desktop.close_all()
    got = desktop.history(base)
    names = {v["id"]: v["name"] for v in m.values()}
    *singles, summary = got
    normal = [n for n in singles if n["urgency"] != "CRITICAL"]
    assert len(normal) == 3 and 1 <= len(singles) - len(normal) <= 3
    assert summary["summary"] == f"{10 - len(singles)} entradas más"
    order = [names[r.member_id] for r in burst if r.member_id is not None]
    it = iter(order)
    assert all(n["summary"] in it for n in singles)  # shown in the burst's order

    # entries made while the agent is not running come as one catch-up summary when it starts again
    assert agent.stop() == 0
    for key in ("current", "balance", "birthday", "current3", "expiring"):
        insert(db, m[key]["id"])
    base = desktop.last_id()
    agent = start_agent(desktop, db, "--flood-max", "3", "--flood-window", "30")
    wait_until(lambda: desktop.displayed() >= 1, 15, "the catch-up summary")
    time.sleep(1.5)
    assert desktop.displayed() == 1
    desktop.close_all()
    (summary,) = desktop.history(base)
    assert summary["summary"] == "5 entradas mientras no había conexión"
    assert agent.stop() == 0


def test_icon_docks_when_the_tray_host_starts_after_the_agent(desktop: Desktop, db: Any) -> None:
    """Login autostart may start the agent before the panel: the icon must dock when a tray host appears."""
    trayer = desktop.procs.pop()
    trayer.terminate()
    trayer.wait(timeout=10)
    wait_until(lambda: not desktop.tray_host_present(), 10, "no tray host")
    agent = start_agent(desktop, db, docked=False)
    time.sleep(1.0)
    assert desktop.icon_windows() == []  # nowhere to dock yet
    desktop.start_trayer()
    wait_until(desktop.icon_windows, 15, "the icon to dock in the tray host that started later")
    assert "a system tray host is there but the icon is not docked: docking it" in agent.log_text()
    assert agent.stop() == 0


def test_notification_daemon_gone_every_entry_reaches_a_person_and_the_icon_says_so(desktop: Desktop, db: Any) -> None:
    """Issue 11: the daemon stops (no working D-Bus activation: the bus's activation environment has no
    DISPLAY), entries come in, the daemon starts again. Every entry is shown by some notifier (the console
    fallback meanwhile, then one summary on the desktop), none is acknowledged unseen (a restart replays
    nothing), and the icon is not green while the daemon is gone.

    Needs the D-Bus notifier to report a failed ``Notify`` (``show`` returns False): with a fire-and-forget
    notifier the entries are "accepted" into the void and the degraded state never shows (the assertion on the
    log's ``tray icon: degraded`` then fails first)."""
    m = members(db)
    agent = start_agent(desktop, db)
    start = len(agent.log_text())
    desktop.close_all()
    stop_dunst(desktop)
    keys = ("expired", "current", "balance")
    rows = [insert(db, m[k]["id"]) for k in keys]
    out = agent.out
    for key in keys:
        wait_until(lambda k=key: m[k]["name"] in out.read_text(errors="replace"), 20, f"{key} on the console fallback")
    agent.wait_log("tray icon: degraded", timeout_s=10, start=start)
    assert "notifier dbus did not show entry-" in agent.log_text()[start:]
    start_dunst(desktop, "dunst2.log")
    wait_until(lambda: desktop.displayed() >= 1, 70, "the summary of what was missed")
    time.sleep(1.0)
    desktop.close_all()
    got = desktop.history(0)  # a new dunst: its ids start again at 1
    summaries = [n for n in got if "no mostrado" in n["summary"]]
    print(got, agent.log_text()[start:])  # shown when an assertion below fails
    assert [n["summary"] for n in summaries] == ["3 avisos no mostrados mientras fallaban las notificaciones"]
    body = summaries[0]["body"]
    assert all(m[k]["name"] in body for k in keys)
    assert summaries[0]["urgency"] == "CRITICAL"  # an expired member is among them
    agent.wait_log("tray icon: connected", timeout_s=10, start=start)
    assert agent.stop() == 0
    # none was acknowledged unseen, and all were seen: a restart replays nothing
    base = desktop.last_id()
    mark = len(agent.log_text())
    again = start_agent(desktop, db)
    time.sleep(3.0)
    assert desktop.displayed() == 0 and desktop.history(base) == []
    assert all(f"entry-{r.entry_id}" not in again.log_text()[mark:] for r in rows)
    assert again.stop() == 0


def icon_title(d: Desktop) -> str:
    """The docked icon's window name: pystray's xorg backend keeps the tooltip there."""
    import Xlib.display

    (wid,) = wait_until(d.icon_windows, 10, "the tray icon to dock in trayer")
    display = Xlib.display.Display(d.env["DISPLAY"])
    try:
        window = display.create_resource_object("window", int(wid))
        name = window.get_full_text_property(display.intern_atom("_NET_WM_NAME")) or window.get_wm_name()
        return str(name or "")
    finally:
        display.close()


def test_warnings_only_mode_pops_up_warnings_only_and_the_tooltip_says_so(desktop: Desktop, db: Any) -> None:
    """Issue 13: ``notifications.only_warnings``: a normal entry does not pop up, an expired one does; the icon's
    tooltip says the mode is on."""
    m = members(db)
    agent = start_agent(desktop, db, AVISO_NOTIFICATIONS_ONLY_WARNINGS="true")
    desktop.close_all()
    base = desktop.last_id()
    insert(db, m["current"]["id"])
    expired = insert(db, m["expired"]["id"])
    wait_until(lambda: desktop.displayed() >= 1, 15, "the expired member's notification")
    time.sleep(1.0)
    assert desktop.displayed() == 1
    desktop.close_all()
    (shown,) = desktop.history(base)
    assert shown["summary"] == m["expired"]["name"] and shown["urgency"] == "CRITICAL"
    assert f"Entrada {hhmm(expired)}" in shown["body"]
    title = wait_until(lambda: (t := icon_title(desktop)) and "2 entradas hoy" in t and t, 10, "the tooltip's count")
    assert "Solo avisos importantes" in title
    assert "tray icon: quiet" in agent.log_text()
    assert agent.stop() == 0


def test_a_member_photo_from_a_web_server_is_on_the_notification(desktop: Desktop, db: Any) -> None:
    """Issue 13: ``foto_url`` on an HTTP server (the demo's avatar server): the desk holds the notice for the
    photo (within ``photos.budget_ms``: the local server answers in time) and the D-Bus ``Notify`` carries the
    cached thumbnail as ``image-path``."""
    from agent.photos.demo_server import DemoPhotoServer

    m = members(db)
    server = DemoPhotoServer(demo_data.photo_people()).start()
    try:
        conn = db.connect_admin(autocommit=False)
        try:
            with conn.cursor() as cur:
                demo_data.set_photo_urls(cur, server.base_url)
            conn.commit()
        finally:
            conn.close()
        cache = desktop.work / f"cache-{time.monotonic_ns()}"
        agent = start_agent(desktop, db, XDG_CACHE_HOME=str(cache))
        desktop.close_all()
        bus_mark = (desktop.work / "bus.log").stat().st_size
        insert(db, m["current"]["id"])
        wait_until(lambda: desktop.displayed() >= 1, 15, "the notification with the photo")
        bus = (desktop.work / "bus.log").read_bytes()[bus_mark:].decode("utf-8", "replace")
        uri = re.search(r'string "image-path"\s+variant\s+string "(file://[^"]+)"', bus)
        assert uri is not None, bus[-2000:]
        photo = Path(uri.group(1).removeprefix("file://"))
        assert photo.is_file() and str(cache) in str(photo) and server.requests >= 1
        assert "photo not ready within the budget" not in agent.log_text()
        assert agent.stop() == 0
    finally:
        server.stop()


def test_a_burst_while_the_daemon_is_gone_is_summarised_entry_by_entry(desktop: Desktop, db: Any) -> None:
    """breakD: 10 entries while the daemon is gone: flood control shows some on the console fallback and folds
    the rest (at least 2, whichever are warnings) into a flood summary. When the daemon is back, the one summary
    must stand for the 10 *entries* (it counted the flood summary as "1 aviso" and left its names out), naming
    the expired member among the warnings. Nothing is replayed after a restart."""
    m = members(db)
    agent = start_agent(desktop, db)
    start = len(agent.log_text())
    desktop.close_all()
    stop_dunst(desktop)
    keys = ("expired", "current", "current2", "current3", "big_note", "birthday", "expiring", "balance", "current")
    keys += ("current2",)
    rows = [insert(db, m[k]["id"]) for k in keys]
    agent.wait_log("summary-flood", timeout_s=30, start=start)  # the flood summary went to the fallback
    start_dunst(desktop, "dunst3.log")
    wait_until(lambda: desktop.displayed() >= 1, 70, "the summary of what was missed")
    time.sleep(1.0)
    desktop.close_all()
    summaries = [n for n in desktop.history(0) if "no mostrado" in n["summary"]]
    print(summaries, agent.log_text()[start:])  # shown when an assertion below fails
    assert [n["summary"] for n in summaries] == ["10 avisos no mostrados mientras fallaban las notificaciones"]
    assert m["expired"]["name"] in summaries[0]["body"].rsplit("\n", 1)[-1]  # the warnings line names her
    assert summaries[0]["urgency"] == "CRITICAL"
    assert agent.stop() == 0
    base, mark = desktop.last_id(), len(agent.log_text())
    again = start_agent(desktop, db)
    time.sleep(3.0)
    assert desktop.history(base) == [] and all(f"entry-{r.entry_id}" not in again.log_text()[mark:] for r in rows)
    assert again.stop() == 0
