"""Command line: ``python -m agent [command]``.

Commands (``python -m agent <command> --help`` for each):

* (none)      run the tray agent
* ``setup-db``  install schema/trigger/``pos_user`` on the turnstile database
* ``listen``    console listener (the seed's ``test_postgres_listener.py``)
* ``simulate``  insert turnstile entries (the seed's ``test_simular_entrada_postgres.py``)
* ``demo``      everything on an embedded PostgreSQL, no set-up

Every database command takes ``--dsn`` (a libpq conninfo string or URL, PostgreSQL docs "Connection Strings");
without it libpq's usual ``PG*`` environment variables apply (``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``,
``PGPASSWORD``...). Exit codes: 0 success, 1 runtime failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from agent import APP_NAME, __version__
from agent.core import names
from agent.core.i18n import LANGUAGES, resolve_language, tr

Handler = Callable[[argparse.Namespace], int]


def _add_dsn(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dsn", default="", help="libpq conninfo string or postgresql:// URL; default: the PG* environment variables"
    )


def _add_channel(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--channel",
        default=names.DEFAULT_CHANNEL,
        help=f"NOTIFY channel, case-sensitive (default {names.DEFAULT_CHANNEL})",
    )


def _cmd_setup_db(args: argparse.Namespace) -> int:
    import psycopg2

    from agent.db import setup

    password = None
    if args.pos_password_stdin:
        from agent.deploy.connection import read_secret_line  # the one stdin/prompt password reader

        password = read_secret_line(tr("setup.password_prompt", args.lang))
    from agent.db import connect

    try:
        # Parsed here, not by psycopg2.connect: libpq's parse errors quote the DSN, password included.
        kwargs = connect.connection_kwargs(args.dsn, application_name="aviso-entradas setup-db")
    except ValueError:
        print(tr("error.dsn", args.lang), file=sys.stderr)
        return 1
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        print(
            tr("error.db", args.lang, detail=connect.redact(str(exc).strip(), kwargs.get("password"))), file=sys.stderr
        )
        return 1
    try:
        report = setup.apply(
            conn,
            schema=args.schema,
            channel=args.channel,
            pos_password=password,
            demo_data=args.demo_data,
            lang=args.lang,
        )
    except setup.SetupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except psycopg2.Error as exc:
        print(tr("error.db", args.lang, detail=str(exc).strip()), file=sys.stderr)
        return 1
    finally:
        conn.close()
    for line in report.lines:
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree; each subparser sets ``handler``."""
    parser = argparse.ArgumentParser(prog="python -m agent", description=f"{APP_NAME}: avisos de entrada de miembros")
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    parser.add_argument(
        "--lang", choices=LANGUAGES, default=None, help="language of user-facing text (default: $AVISO_LANG or es)"
    )
    sub = parser.add_subparsers(dest="command", metavar="command")

    p = sub.add_parser("setup-db", help="install schema, trigger and pos_user on the turnstile database")
    _add_dsn(p)
    _add_channel(p)
    p.add_argument("--schema", action="store_true", help="also create the reference tables (sql/schema.sql)")
    p.add_argument("--demo-data", action="store_true", help="load the sample members when miembros is empty")
    p.add_argument(
        "--pos-password-stdin",
        action="store_true",
        help="read pos_user's password from the first line of standard input",
    )
    p.set_defaults(handler=_cmd_setup_db)

    _register_late_commands(sub)
    # `--lang` is accepted after the command too (`demo --lang en`); there it only overrides when given.
    for subparser in sub.choices.values():
        subparser.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS, help="language (es/en)")
    return parser


def _register_late_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The per-group command modules; each imports its heavy dependencies inside its handlers (keeps ``--version``
    fast)."""
    from agent.cli import deploy, doctor, engine, tray

    for group in (engine, tray, deploy, doctor):
        group.register(sub, _add_dsn, _add_channel)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.lang = resolve_language(args.lang)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        from agent.cli import tray

        return tray.run_tray(args)
    return handler(args)
