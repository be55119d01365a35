"""Command line: ``python -m agent [command]``.

Commands (``python -m agent <command> --help`` for each):

* (none)      run the tray agent
* ``setup-db``  install schema/trigger/``pos_user``/indexes on the turnstile database (:mod:`agent.cli.kit`)
* ``listen``    console listener (the seed's ``test_postgres_listener.py``)
* ``simulate``  insert turnstile entries (the seed's ``test_simular_entrada_postgres.py``)
* ``demo``      everything on an embedded PostgreSQL, no set-up

Every database command takes ``--dsn`` (a libpq conninfo string or URL, PostgreSQL docs "Connection Strings");
without it libpq's usual ``PG*`` environment variables apply (``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``,
``PGPASSWORD``...). Exit codes: 0 success, 1 runtime failure, 2 usage error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from agent import APP_NAME, __version__
from agent.core import names
from agent.core.i18n import LANGUAGES, resolve_language

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


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree; each subparser sets ``handler``."""
    parser = argparse.ArgumentParser(prog="python -m agent", description=f"{APP_NAME}: avisos de entrada de miembros")
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    parser.add_argument(
        "--lang", choices=LANGUAGES, default=None, help="language of user-facing text (default: $AVISO_LANG or es)"
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    _register_late_commands(sub)
    # `--lang` is accepted after the command too (`demo --lang en`); there it only overrides when given.
    for subparser in sub.choices.values():
        subparser.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS, help="language (es/en)")
    return parser


def _register_late_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The per-group command modules; each imports its heavy dependencies inside its handlers (keeps ``--version``
    fast)."""
    from agent.cli import deploy, doctor, engine, kit, tray

    for group in (kit, engine, tray, deploy, doctor):
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
