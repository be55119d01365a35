"""``doctor``: the seed's troubleshooting list as automatic checks against the configured turnstile database.

:func:`run` goes through the checks in order, from the PC outwards, and returns a :class:`DoctorReport`: one
:class:`CheckResult` per check (``ok`` / ``warn`` / ``fail`` / ``skip``) with a translated result and, unless
``ok``, what to do. A check whose prerequisite failed is ``skip``. The report fails when any check fails; warnings
(over-privileged role, TLS off, clock skew, a missing index, two-phase commit) do not fail it.

Where things are: :mod:`~agent.doctor.runner` (the ordered list of steps, ``run``), :mod:`~agent.doctor.report`
(results, table, JSON), :mod:`~agent.doctor.target`, :mod:`~agent.doctor.checks_network` (driver, resolve,
port), :mod:`~agent.doctor.checks_connect` (TLS handshake/auth/database, a stale default root.crt),
:mod:`~agent.doctor.checks_kit` (judged from one :func:`agent.db.inspect.read`: server version, trigger, channel,
partitions, two-phase commit, indexes, session limits, role) with the pure judges in :mod:`~agent.doctor.judge`
and :mod:`~agent.doctor.judge_access`, and :mod:`~agent.doctor.checks_live` (LISTEN round trip, the agent's
queries, the measured sweep, TLS in use, clock, NOTIFY queue). The list of checks with what each looks at is in
``docs/turnstile-kit.md``.

``doctor`` never writes to the turnstile's tables: every query runs in a ``READ ONLY`` transaction (the server
refuses writes there, PostgreSQL docs "SET TRANSACTION"); the LISTEN self-test uses a private random channel.
Which thread: any thread that may block for a few seconds (network); the tray runs it on a worker thread.
"""

from __future__ import annotations

from agent.doctor.checks_live import CLOCK_SKEW_WARN_S, QUEUE_FAIL, QUEUE_WARN, queue_status
from agent.doctor.checks_network import endpoints
from agent.doctor.judge import MIN_SERVER_VERSION_NUM
from agent.doctor.report import CHECKS, CheckResult, DoctorReport, Status
from agent.doctor.runner import run, run_from_settings
from agent.doctor.target import LISTEN_TIMEOUT_S, Target, conninfo_quote

__all__ = [
    "CHECKS",
    "CLOCK_SKEW_WARN_S",
    "LISTEN_TIMEOUT_S",
    "MIN_SERVER_VERSION_NUM",
    "QUEUE_FAIL",
    "QUEUE_WARN",
    "CheckResult",
    "DoctorReport",
    "Status",
    "Target",
    "conninfo_quote",
    "endpoints",
    "queue_status",
    "run",
    "run_from_settings",
]
