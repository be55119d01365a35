"""The ``Notify`` calls on the session bus, as ``dbus-monitor`` sees them (for :mod:`bench.desk_latency`).

``dbus-monitor --session --monitor`` becomes a bus monitor (D-Bus specification, "BecomeMonitor"): the bus daemon
forwards it a copy of each matching message it routes to the notification server. The ``time=`` field of each
message header is ``gettimeofday`` (``CLOCK_REALTIME``) when the monitor read the message (dbus-monitor.c).
Linux only; needs a session bus (``DBUS_SESSION_BUS_ADDRESS``).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Notice:
    """One ``Notify`` call seen on the bus: the monitor's time (s, CLOCK_REALTIME) and the summary."""

    t: float
    summary: str


@dataclass
class BusMonitor:
    """``dbus-monitor`` on the session bus, parsed live on a reader thread; :meth:`wait_for` is thread-safe."""

    notices: list[Notice] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    proc: subprocess.Popen[str] | None = None
    raw_path: Path | None = None
    """Where to copy the monitor's text as read (None: nowhere)."""

    def start(self) -> None:
        match = "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"
        self.proc = subprocess.Popen(
            ["dbus-monitor", "--session", "--monitor", match],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, name="bus-monitor", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """One message: a header line ``method call time=S.US ... member=Notify``, then its arguments indented by
        three spaces; the summary is the third top-level ``string`` (app_name, app_icon, summary, body)."""
        assert self.proc is not None and self.proc.stdout is not None
        stamp: float | None = None
        strings = 0
        raw = open(self.raw_path, "w", encoding="utf-8") if self.raw_path else None  # noqa: SIM115
        for line in self.proc.stdout:
            if raw is not None:
                raw.write(line)
            if not line.startswith(" "):
                found = re.search(r"time=(\d+\.\d+)", line)
                stamp = float(found.group(1)) if found and "member=Notify" in line else None
                strings = 0
            elif stamp is not None and line.startswith('   string "'):
                strings += 1
                if strings == 3:
                    with self.cond:
                        self.notices.append(Notice(stamp, line.rstrip("\n")[len('   string "') : -1]))
                        self.cond.notify_all()
                    stamp = None
        if raw is not None:
            raw.close()

    def wait_for(self, match: Callable[[str], bool], timeout_s: float) -> Notice | None:
        """The first notice whose summary ``match`` accepts, waiting up to ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for n in self.notices:
                    if match(n.summary):
                        return n
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
            self._reader.join(timeout=5)  # the rest of its text is read and copied
