"""The doctor's ordered list of checks and the loop that runs them.

:data:`STEPS` is the whole doctor: each :class:`Step` names the check keys it reports and a function of the
run's :class:`Context`. A *gate* step must pass for the rest to run (no driver, no address, no port, no
connection: everything after is ``skip``). After connecting, a step that raises (e.g. the connection dropped) is
reported on its own check and the run goes on, unless the connection is closed.

To add a check: write a function ``(Context) -> CheckResult`` (a pure judge of the inspection where possible, in
:mod:`agent.doctor.judge`), add its key to :data:`agent.doctor.report.CHECKS` and a :class:`Step` here, and give
it a title ``doctor.check.<key>`` in a message catalog.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.core.config import ConnectionSettings
from agent.doctor import checks_connect, checks_kit, checks_live, checks_network
from agent.doctor.context import Context
from agent.doctor.report import CHECKS, CheckResult, DoctorReport, Status, skipped
from agent.doctor.target import Target


@dataclass(frozen=True)
class Step:
    keys: tuple[str, ...]
    run: Callable[[Context], CheckResult | Sequence[CheckResult]]
    gate: bool = False


STEPS: tuple[Step, ...] = (
    Step(("driver",), checks_network.driver, gate=True),
    Step(("resolve",), checks_network.resolve, gate=True),
    Step(("port",), checks_network.port, gate=True),
    Step(("tls_handshake", "auth", "database"), checks_connect.connect, gate=True),
    Step(("server_version",), checks_kit.server_version),
    Step(("trigger",), checks_kit.trigger),
    Step(("channel",), checks_kit.channel),
    Step(("partitions",), checks_kit.partitions),
    Step(("two_phase",), checks_kit.two_phase),
    Step(("listen",), checks_live.listen),
    Step(("queries",), checks_live.queries),
    Step(("indexes",), checks_kit.indexes),
    Step(("sweep",), checks_live.sweep),
    Step(("session_limits",), checks_kit.session_limits),
    Step(("role",), checks_kit.role),
    Step(("tls",), checks_live.tls),
    Step(("clock",), checks_live.clock),
    Step(("queue",), checks_live.queue),
)
assert tuple(k for s in STEPS for k in s.keys) == CHECKS


def _passed(step: Step, results: dict[str, CheckResult], ctx: Context) -> bool:
    if step.run is checks_connect.connect:
        return ctx.conn is not None
    return all(k in results and results[k].status in (Status.OK, Status.WARN) for k in step.keys)


def run(target: Target, *, lang: str = "es", clock: Callable[[], float] = time.time) -> DoctorReport:
    """Run every check against ``target``; returns the report (never raises for a database problem).

    ``clock`` gives this PC's wall-clock time in seconds since the epoch (tests pass a skewed one). Blocks for
    at most a few times ``target.connect_timeout_s`` plus ``target.listen_timeout_s``. Any thread; opens and
    closes its own connections.
    """
    ctx = Context(target, lang, clock)
    results: dict[str, CheckResult] = {}
    try:
        for step in STEPS:
            try:
                out = step.run(ctx)
            except Exception as exc:  # e.g. the connection dropped mid-way: report it on that check
                if step.gate:
                    raise
                out = tuple(ctx.error(k, exc) for k in step.keys)
            for r in (out,) if isinstance(out, CheckResult) else out:
                results[r.check] = r
            if step.gate and not _passed(step, results, ctx):
                break
            if ctx.conn is not None and bool(getattr(ctx.conn, "closed", False)):
                break
    finally:
        if ctx.conn is not None:
            with contextlib.suppress(Exception):
                ctx.conn.close()
    return DoctorReport(tuple(results.get(c) or skipped(c, lang) for c in CHECKS), lang)


def run_from_settings(settings: ConnectionSettings, password: str | None, *, lang: str = "es") -> DoctorReport:
    """What the tray's "Diagnose" menu item calls (on a worker thread): ``run`` on the configured connection."""
    return run(Target.from_settings(settings, password), lang=lang)
