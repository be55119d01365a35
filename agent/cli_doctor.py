"""``doctor``: check the connection to the turnstile database and say what to do. Handlers run on the main thread.

``python -m agent doctor [--dsn DSN] [--channel C] [--sslmode M] [--sslrootcert PATH] [--password-stdin] [--json]``
prints a table (check | result | what to do) or, with ``--json``, one JSON object (:meth:`DoctorReport.to_json`);
exit code 0 when no check failed (warnings allowed), 1 when any check failed. The password comes from the first
line of standard input with ``--password-stdin``, else from libpq's own sources (``PGPASSWORD``, ``~/.pgpass``);
never from argv.

For the tray: :func:`diagnose_for_tray` runs the checks on the configured connection and returns the verdict and
the texts to show.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

from agent.core.config import ConnectionSettings

AddArg = Callable[[argparse.ArgumentParser], None]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add ``doctor`` to ``sub``."""
    p = sub.add_parser("doctor", help="check the connection to the turnstile database and say what to do")
    add_dsn(p)
    add_channel(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--sslmode", default=None, help="libpq sslmode (overrides the DSN), e.g. verify-full")
    p.add_argument("--sslrootcert", default=None, help="CA certificate file for verify-ca / verify-full")
    p.add_argument("--connect-timeout", type=int, default=5, help="seconds per connection attempt (default 5)")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of standard input"
    )
    p.set_defaults(handler=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from agent import doctor

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n") or None
    target = doctor.Target(
        dsn=args.dsn,
        password=password,
        channel=args.channel,
        sslmode=args.sslmode,
        sslrootcert=args.sslrootcert,
        connect_timeout_s=args.connect_timeout,
    )
    report = doctor.run(target, lang=args.lang)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(report.table())
    return 0 if report.ok else 1


@dataclass(frozen=True)
class TrayDiagnosis:
    """What the tray shows after "Diagnose": ``ok`` (no failure), ``summary`` (balloon / tooltip, one or two
    sentences) and ``table`` (the full report for a text window or the log)."""

    ok: bool
    summary: str
    table: str


def diagnose_for_tray(settings: ConnectionSettings, password: str | None, lang: str = "es") -> TrayDiagnosis:
    """Run ``doctor`` on the configured connection. Blocks for seconds: call it on a worker thread, then hand the
    result to the GUI thread. Never raises for a database problem."""
    from agent import doctor

    report = doctor.run_from_settings(settings, password, lang=lang)
    return TrayDiagnosis(report.ok, report.summary(), report.table())
