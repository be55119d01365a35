"""``setup-db``: install the turnstile kit on the turnstile's database. The handler runs on the main thread.

``python -m agent setup-db [--dsn DSN] [--channel C] [--schema] [--demo-data] [--pos-password-stdin]
[--no-trigger] [--no-index]`` prints one line per part (schema, trigger, role, password, demo data, indexes) and
what the installed state means (partitions covered, two-phase commit); exit code 0 when installed, 1 on a
database error, an impossible request (no tables without ``--schema``, a replica) or a failed index build, 2 on a
usage error. ``--no-trigger``: only ``pos_user`` and its column grants (the agent then runs with
``connection.mode = "poll"``). ``--no-index``: do not build the indexes the agent relies on (they are named).
The full story is in ``docs/turnstile-kit.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from agent.core.i18n import tr

AddArg = Callable[[argparse.ArgumentParser], None]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add ``setup-db`` to ``sub``."""
    p = sub.add_parser("setup-db", help="install schema, trigger and pos_user on the turnstile database")
    add_dsn(p)
    add_channel(p)
    p.add_argument("--schema", action="store_true", help="also create the reference tables (sql/schema.sql)")
    p.add_argument("--demo-data", action="store_true", help="load the sample members when miembros is empty")
    p.add_argument(
        "--pos-password-stdin",
        action="store_true",
        help="read pos_user's password from the first line of standard input",
    )
    p.add_argument(
        "--no-trigger",
        action="store_true",
        help="install only pos_user and its read grants (for connection.mode = poll; no trigger)",
    )
    p.add_argument(
        "--no-index",
        action="store_true",
        help="do not create the indexes the agent relies on (CREATE INDEX CONCURRENTLY) when missing",
    )
    p.set_defaults(handler=_cmd_setup_db)


def _cmd_setup_db(args: argparse.Namespace) -> int:
    import psycopg2

    from agent.db import connect, setup

    password = None
    if args.pos_password_stdin:
        from agent.deploy.connection import read_secret_line  # the one stdin/prompt password reader

        password = read_secret_line(tr("setup.password_prompt", args.lang))
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

    def progress(line: str) -> None:
        print(line, flush=True)

    try:
        report = setup.apply(
            conn,
            schema=args.schema,
            channel=args.channel,
            pos_password=password,
            demo_data=args.demo_data,
            lang=args.lang,
            trigger=not args.no_trigger,
            indexes=not args.no_index,
            progress=progress,
        )
    except setup.SetupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except psycopg2.Error as exc:
        print(tr("error.db", args.lang, detail=str(exc).strip()), file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 1 if report.failed else 0  # every line was printed through `progress` as it became final
