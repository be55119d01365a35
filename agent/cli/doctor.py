"""``doctor``: check the connection to the turnstile database and say what to do. Handlers run on the main thread.

``python -m agent doctor [--dsn DSN] [--channel C] [--sslmode M] [--sslrootcert PATH] [--mode notify|poll]
[--password-stdin] [--json]``
prints a table (check | result | what to do) or, with ``--json``, one JSON object (:meth:`DoctorReport.to_json`);
exit code 0 when no check failed (warnings allowed), 1 when any check failed, 2 when the configuration is invalid.

Without ``--dsn`` it checks the configured server, as the agent would connect to it: the settings
(:func:`agent.deploy.config_files.load`: files, ``AVISO_*`` variables) and the password stored in the OS keyring; a
``--channel``/``--sslmode``/``--sslrootcert`` given on the command line wins. With ``--dsn`` the settings are
not read. The password comes from the first line of standard input with ``--password-stdin``, else the keyring
(configured server only), else libpq's own sources (``PGPASSWORD``, ``~/.pgpass``); never from argv.

For the tray: :func:`diagnose_for_tray` runs the checks on the configured connection and returns the verdict and
the texts to show.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.core import names
from agent.core.config import ConnectionSettings
from agent.core.i18n import tr

if TYPE_CHECKING:
    from agent.doctor import Target

AddArg = Callable[[argparse.ArgumentParser], None]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add ``doctor`` to ``sub``."""
    p = sub.add_parser("doctor", help="check the connection to the turnstile database and say what to do")
    p.add_argument(
        "--dsn",
        default="",
        help="libpq conninfo string or postgresql:// URL; default: the agent's configured server and keyring password",
    )
    add_channel(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--sslmode", default=None, help="libpq sslmode (overrides the DSN), e.g. verify-full")
    p.add_argument("--sslrootcert", default=None, help="CA certificate file for verify-ca / verify-full")
    p.add_argument(
        "--connect-timeout", type=int, default=0, help="seconds per connection attempt (default: configured, 5)"
    )
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of standard input"
    )
    p.add_argument(
        "--mode",
        choices=("notify", "poll"),
        default=None,
        help="how the agent gets entries (default: configured, notify); poll skips the trigger and LISTEN checks",
    )
    p.set_defaults(handler=_cmd_doctor)


def _configured_target(args: argparse.Namespace, password: str | None) -> Target:
    """The configured server with the command line's overrides, through the agent's one connection path
    (:func:`agent.deploy.connection.resolve`: the keyring read is bounded, ``sslrootcert = system`` resolved). A
    keyring that cannot be read (locked, unreachable, not answering) is said on stderr and doctor goes on without
    the password, so its checks still say what else is wrong.

    Raises :class:`agent.deploy.connection.ConnectionSetupError` (invalid settings, unusable TLS settings)."""
    from agent.deploy.connection import KeyringProblem, configured_settings, resolve
    from agent.doctor import Target

    conn = configured_settings().connection
    channel = args.channel if args.channel != names.DEFAULT_CHANNEL else conn.channel
    params = resolve(
        conn, password_override=password, sslmode=args.sslmode, sslrootcert=args.sslrootcert, channel=channel
    )
    if isinstance(params.password_problem, KeyringProblem):
        print(params.password_problem.message(args.lang), file=sys.stderr)
    return Target(
        dsn=params.dsn,
        password=params.password,
        channel=params.channel,
        sslmode=params.sslmode or None,
        sslrootcert=params.sslrootcert or None,
        connect_timeout_s=args.connect_timeout or params.connect_timeout_s,
        mode=args.mode or conn.mode,
    )


def _cmd_doctor(args: argparse.Namespace) -> int:
    from agent import doctor
    from agent.deploy.connection import BadSettings, ConnectionSetupError, read_secret_line

    password = None
    if args.password_stdin:  # the one stdin/prompt password reader (BOM, CRLF, Windows pipes)
        password = read_secret_line(tr("doctor.password_prompt", args.lang)) or None
    if args.dsn:
        target = doctor.Target(
            dsn=args.dsn,
            password=password,
            channel=args.channel,
            sslmode=args.sslmode,
            sslrootcert=args.sslrootcert,
            connect_timeout_s=args.connect_timeout or 5,
            mode=args.mode or "notify",
        )
    else:
        try:
            target = _configured_target(args, password)
        except BadSettings as exc:
            print(tr("doctor.config_invalid", args.lang, detail=exc.config_error.describe(args.lang)), file=sys.stderr)
            return 2
        except ConnectionSetupError as exc:  # e.g. sslrootcert = system with no usable CA bundle
            print(exc.message(args.lang), file=sys.stderr)
            return 2
    report = doctor.run(target, lang=args.lang)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(report.table(width=max(80, min(160, shutil.get_terminal_size((110, 24)).columns))))
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
