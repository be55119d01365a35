"""Per-process figures from Linux ``/proc`` (proc(5)): CPU time, context switches, memory.

* CPU time: the sum over the process's threads of the first field of ``/proc/<pid>/task/<tid>/schedstat``
  (nanoseconds on the CPU; finer than ``utime``/``stime``, which count 10 ms ticks).
* Wakeups: ``voluntary_ctxt_switches`` (the thread blocked and was woken again: one per wakeup) and
  ``nonvoluntary_ctxt_switches`` (preempted) summed over ``/proc/<pid>/task/*/status``. Threads that exited
  in between are not counted, so take deltas while the same threads live.
* Memory: ``VmRSS`` (now) and ``VmHWM`` (peak resident set) from ``/proc/<pid>/status``, in bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcSample:
    """One reading of a process."""

    cpu_ns: int
    voluntary: int
    nonvoluntary: int
    rss_bytes: int
    hwm_bytes: int
    threads: int


def _status_fields(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(path, encoding="ascii", errors="replace") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def _kib(value: str) -> int:
    return int(value.split()[0]) * 1024 if value else 0


def sample(pid: int) -> ProcSample:
    """Read ``pid``'s figures now. Raises ``OSError`` when the process is gone."""
    cpu = vol = nonvol = threads = 0
    base = f"/proc/{pid}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/schedstat", encoding="ascii") as f:
                cpu += int(f.read().split()[0])
            st = _status_fields(f"{base}/{tid}/status")
        except (OSError, ValueError, IndexError):
            continue  # the thread ended while we read
        vol += int(st.get("voluntary_ctxt_switches", "0"))
        nonvol += int(st.get("nonvoluntary_ctxt_switches", "0"))
        threads += 1
    st = _status_fields(f"/proc/{pid}/status")
    return ProcSample(cpu, vol, nonvol, _kib(st.get("VmRSS", "")), _kib(st.get("VmHWM", "")), threads)
