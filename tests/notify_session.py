"""A real notification server for tests: a private D-Bus session bus *without service activation* (so a stopped
daemon stays stopped: Notify then fails with ``ServiceUnknown``, as on a desktop whose daemon crashed), an Xvfb
display and dunst, which can be stopped and started again with another configuration. What arrived is read back
from dunst (``dunstctl history`` after ``dunstctl close-all``), never from the client's insides."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

TOOLS = ("dbus-daemon", "dbus-monitor", "dbus-send", "Xvfb", "dunst", "dunstctl")

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

DUNSTRC = """[global]
    markup = {markup}
    format = "%s\\n%b"
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
"""


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class NotifySession:
    work: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    dunst: subprocess.Popen[bytes] | None = None
    seen: int = 0

    @property
    def address(self) -> str:
        return self.env["DBUS_SESSION_BUS_ADDRESS"]

    def ctl(self, *args: str) -> str:
        out = subprocess.run(["dunstctl", *args], env=self.env, capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            raise AssertionError(f"dunstctl {args} failed: {out.stderr}")
        return out.stdout

    def start_dunst(self, markup: str = "full") -> None:
        """Start dunst (``markup`` = ``full`` advertises ``body-markup``; ``no`` does not)."""
        self.stop_dunst()
        config = self.work / f"dunstrc-{markup}"
        config.write_text(DUNSTRC.format(markup=markup), encoding="utf-8")
        self.seen = 0  # a new dunst numbers from 1 again
        with open(self.work / "dunst.log", "ab") as log:
            self.dunst = subprocess.Popen(["dunst", "-config", str(config)], env=self.env, stdout=log, stderr=log)
        wait_until(lambda: self.has_server(), 10, "dunst on the bus")

    def stop_dunst(self) -> None:
        if self.dunst is not None:
            self.dunst.terminate()
            self.dunst.wait(timeout=10)
            self.dunst = None
            wait_until(lambda: not self.has_server(), 10, "dunst to leave the bus")

    def has_server(self) -> bool:
        out = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
             "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.Notifications"],
            env=self.env, capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        return "boolean true" in out.stdout

    def notify_calls(self) -> list[dict[str, str]]:
        """Every ``Notify`` call on the bus (``dbus-monitor``), oldest first: app_icon, summary, body, urgency
        (the hint's byte) and image-path (the hint), as ``dbus-monitor`` prints them."""
        text = (self.work / "bus.log").read_text(encoding="utf-8", errors="replace")
        calls = []
        for block in text.split("method call ")[1:]:
            if "member=Notify" not in block.split("\n", 1)[0]:
                continue
            strings = re.findall(r'^ {3}string "(.*?)"$', block, re.MULTILINE | re.DOTALL)
            urgency = re.search(r'string "urgency"\s+variant\s+byte (\d)', block)
            image = re.search(r'string "image-path"\s+variant\s+string "([^"]*)"', block)
            calls.append(
                {
                    "app_icon": strings[1],
                    "summary": strings[2],
                    "body": strings[3],
                    "urgency": urgency.group(1) if urgency else "",
                    "image-path": image.group(1) if image else "",
                }
            )
        return calls

    def dunst_log(self) -> str:
        path = self.work / "dunst.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def received(self) -> list[dict[str, str]]:
        """Every notification dunst got since the last call, oldest first: summary, body (as sent), appname."""
        self.ctl("close-all")
        wait_until(lambda: self.ctl("count", "displayed").strip() == "0", 5, "dunst to close its popups")
        data = json.loads(self.ctl("history"))["data"][0]
        rows = sorted(({k: str(v["data"]) for k, v in item.items()} for item in data), key=lambda r: int(r["id"]))
        rows = [r for r in rows if int(r["id"]) > self.seen]
        self.seen = max([self.seen, *(int(r["id"]) for r in rows)])
        return rows


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


@contextmanager
def notify_session(work: Path) -> Iterator[NotifySession]:
    """Bus + Xvfb (+ dunst, started by the caller). Skips when the tools are missing (fails under CI)."""
    missing = missing_tools()
    if missing:
        reason = f"desktop packages missing ({', '.join(missing)}): build/dev.sh test installs them as root"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    runtime = work / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")}
    env.update(XDG_RUNTIME_DIR=str(runtime), HOME=str(work))
    config = work / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=work / "bus"), encoding="utf-8")
    session = NotifySession(work, env)
    try:
        bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        session.procs.append(bus)
        assert bus.stdout is not None
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().decode().strip()
        with open(work / "bus.log", "wb") as monitor_log:
            session.procs.append(
                subprocess.Popen(
                    ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications',member='Notify'"],
                    env=env,
                    stdout=monitor_log,
                    stderr=subprocess.DEVNULL,
                )
            )
        read_fd, write_fd = os.pipe()
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        session.procs.append(xvfb)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            env["DISPLAY"] = ":" + pipe.readline().strip()
        yield session
    finally:
        session.stop_dunst()
        for proc in reversed(session.procs):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
