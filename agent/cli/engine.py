"""``listen`` (the seed's console listener) and ``simulate`` (the seed's entry simulator).

Handlers run on the main thread; ``listen`` drains the engine's event queue there, like the tray does.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import logging
import os
import queue
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core import names
from agent.core.events import BacklogSummary, ConnState, EntryReceived, Event, StateChanged
from agent.core.i18n import tr
from agent.core.model import Entry

if TYPE_CHECKING:
    from agent.db.engine import EngineConfig

AddArg = Callable[[argparse.ArgumentParser], None]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add ``listen`` and ``simulate`` to ``sub``."""
    p = sub.add_parser(
        "listen",
        help="print member entries as they arrive (console listener)",
        description="Exit codes: 0 --count reached or Ctrl+C; 1 --timeout passed or the engine stopped; 2 invalid "
        "settings, malformed --dsn or unusable TLS settings; 4 the password could not be read from the OS keyring "
        "(locked, no keyring, not answering).",
    )
    p.add_argument(
        "--dsn",
        default=None,
        help="libpq conninfo string or postgresql:// URL; default: the configured server (configure) with its "
        "keyring password; --dsn '' uses only the PG* environment variables",
    )
    p.add_argument("--channel", default=None, help="NOTIFY channel, case-sensitive (default: the configured one)")
    p.add_argument("--json", action="store_true", help="one JSON object per entry per line on stdout")
    p.add_argument("--count", type=_non_negative_int, default=0, help="exit 0 after N entries (default: until Ctrl+C)")
    p.add_argument("--timeout", type=_seconds, default=0, help="exit 1 if the entries have not arrived after S seconds")
    p.add_argument("--cursor", type=Path, default=None, help="file that keeps the delivery cursor across runs")
    p.add_argument(
        "--mode",
        choices=("notify", "poll"),
        default=None,
        help="notify: LISTEN (needs the kit's trigger); poll: no trigger, one query per interval, works on a "
        "read replica (default: the configured one, else notify)",
    )
    p.add_argument(
        "--poll-interval",
        type=_interval,
        default=None,
        dest="poll_interval",
        help="seconds between polls in poll mode (default: the configured one, else 1)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log to stderr (the engine's log lines)")
    p.set_defaults(handler=_cmd_listen)

    p = sub.add_parser("simulate", help="insert turnstile entries (simulated turnstile)")
    add_dsn(p)
    p.add_argument("--count", type=_non_negative_int, default=1, help="how many entries (default 1)")
    p.add_argument("--rate", type=_seconds, default=None, help="entries per second (default: as fast as possible)")
    p.add_argument("--member", type=int, default=None, help="id_miembro (default: cycle over all members)")
    p.add_argument("--tipo-acceso", choices=names.ACCESS_TYPES, default=names.MEMBER_ACCESS, dest="access_type")
    p.add_argument(
        "--resultado", choices=(names.RESULT_GRANTED, names.RESULT_DENIED), default=names.RESULT_GRANTED, dest="result"
    )
    p.add_argument("--burst", action="store_true", help="insert all entries in one transaction")
    p.set_defaults(handler=_cmd_simulate)


def _non_negative_int(text: str) -> int:
    """argparse type: a whole number ≥ 0 (usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def _seconds(text: str) -> float:
    """argparse type: a finite number ≥ 0, at most a year (usage error otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 366 * 86400:  # also rejects nan and inf
        raise argparse.ArgumentTypeError(f"must be between 0 and 31622400: {text}")
    return value


def _interval(text: str) -> float:
    """argparse type: seconds between polls, 0.1 to 3600 (usage error otherwise)."""
    value = _seconds(text)
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 3600: {text}")
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def entry_json(entry: Entry, source: str) -> dict[str, Any]:
    """The ``listen --json`` object: SQL names (``id_entrada``, ``nombre``...), ISO 8601 times, ``source``,
    ``entrada_previa`` (the member's previous granted entry, ISO 8601, or null) and ``primera_visita`` (bool)."""
    out: dict[str, Any] = {col: _jsonable(getattr(entry, attr)) for col, attr in names.ENTRY_COLUMNS.items()}
    member = entry.member
    for col, attr in names.MEMBER_COLUMNS.items():
        if col != "id_miembro" and col != "notas":
            out[col] = _jsonable(getattr(member, attr)) if member else None
    out["entrada_previa"] = _jsonable(entry.previous_entry_at)
    out["primera_visita"] = entry.first_visit
    out["source"] = source
    return out


def _human(entry: Entry, source: str, lang: str) -> str:
    name = entry.member.full_name if entry.member else "?"
    plan = (entry.member.plan if entry.member else None) or "-"
    when = entry.occurred_at.astimezone().strftime("%H:%M:%S")
    return tr(
        "listen.entry",
        lang,
        at=when,
        entry_id=entry.entry_id,
        name=name,
        plan=plan,
        source=tr(f"listen.source.{source}", lang),
    )


def _listen_config(args: argparse.Namespace) -> EngineConfig:
    """--dsn given: that DSN (PG* variables fill what it leaves out). Otherwise the configured server, channel,
    TLS, mode and photo settings with the password from the OS keyring. Both through
    :func:`agent.deploy.connection.resolve`; ``--channel``, ``--mode`` and ``--poll-interval`` override either.

    Raises :class:`agent.deploy.connection.ConnectionSetupError` subclasses: a keyring that cannot be read
    (locked, unreachable, not answering) is raised; no password stored is not (libpq's ``PGPASSWORD``/``.pgpass``
    may still apply)."""
    from agent.db.engine import EngineConfig
    from agent.deploy.connection import KeyringProblem, configured_settings, resolve

    overrides: dict[str, Any] = {
        "cursor_path": args.cursor,
        "require_ack": True,  # an entry counts as delivered once printed: --count and Ctrl+C lose nothing
    }
    if args.mode:
        overrides["mode"] = args.mode
    if args.poll_interval is not None:
        overrides["poll_interval_s"] = args.poll_interval
    if args.dsn is not None:  # the DSN's own sslmode etc. count: no settings at all
        params = resolve(None, dsn_override=args.dsn, channel=args.channel)
        return EngineConfig(
            dsn=params.dsn,
            password=params.password,
            channel=params.channel,
            sslmode=params.sslmode,
            sslrootcert=params.sslrootcert,
            connect_timeout_s=float(params.connect_timeout_s),
            **overrides,
        )
    settings = configured_settings()
    params = resolve(settings.connection, channel=args.channel)
    if isinstance(params.password_problem, KeyringProblem):
        raise params.password_problem
    return EngineConfig.from_settings(
        settings,
        dsn=params.dsn,
        password=params.password,
        channel=params.channel,
        sslmode=params.sslmode,
        sslrootcert=params.sslrootcert,
        **overrides,
    )


EXIT_KEYRING = 4
"""``listen`` exit code: the password could not be read from the OS keyring (locked, none, not answering)."""


def _cmd_listen(args: argparse.Namespace) -> int:
    from agent.db.engine import ListenerEngine
    from agent.deploy.connection import ConnectionSetupError, KeyringProblem

    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    else:  # state changes are printed below; keep the engine's log lines off the console
        logging.getLogger().addHandler(logging.NullHandler())
    for stream in (sys.stdout, sys.stderr):  # a console or pipe that cannot show "ñ" or "✅" must not crash us
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    try:
        config = _listen_config(args)
    except KeyringProblem as exc:  # a sentence with the fix, never a raw backend message or a traceback
        print(exc.message(args.lang), file=sys.stderr)
        print(tr("listen.keyring_failed", args.lang), file=sys.stderr)
        return EXIT_KEYRING
    except ConnectionSetupError as exc:  # invalid settings, malformed DSN, unusable sslrootcert=system
        print(exc.message(args.lang), file=sys.stderr)
        return 2
    events: queue.Queue[Event] = queue.Queue()
    engine = ListenerEngine(config, events, lang=args.lang)
    out = sys.stdout
    start_lines = sys.stderr if args.json else out
    deadline = time.monotonic() + args.timeout if args.timeout else None
    received = 0
    announced = False
    shown: set[tuple[ConnState, str]] = set()
    engine.start()
    try:
        while True:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                key = "listen.timeout" if args.count else "listen.timeout_no_count"
                print(tr(key, args.lang, received=received, count=args.count, seconds=args.timeout), file=sys.stderr)
                return 1
            try:
                event = events.get(timeout=wait)
            except queue.Empty:
                continue
            if isinstance(event, StateChanged):
                if event.state is ConnState.LISTENING:
                    shown.clear()  # after a recovery, the next trouble is news again
                if event.state is ConnState.LISTENING and not announced:
                    announced = True
                    print(tr("listen.connected", args.lang), file=start_lines)
                    if config.mode == "poll":
                        print(tr("listen.polling", args.lang, seconds=f"{config.poll_interval_s:g}"), file=start_lines)
                    else:
                        print(tr("listen.listening", args.lang, channel=config.channel), file=start_lines)
                    print(tr("listen.waiting", args.lang), file=start_lines, flush=True)
                elif (event.state, event.reason) not in shown:  # one line per kind of trouble, not per retry
                    shown.add((event.state, event.reason))
                    state = tr(f"listen.state.{event.state.value}", args.lang)
                    line = (
                        tr("listen.state", args.lang, state=state, reason=event.reason)
                        if event.reason
                        else (tr("listen.state_plain", args.lang, state=state))
                    )
                    print(line, file=sys.stderr, flush=True)
                if event.state is ConnState.STOPPED:
                    return 1
            elif isinstance(event, BacklogSummary):
                print(
                    tr(
                        "listen.backlog",
                        args.lang,
                        count=event.count,
                        oldest=event.oldest.isoformat(),
                        newest=event.newest.isoformat(),
                    ),
                    file=sys.stderr,
                    flush=True,
                )
            elif isinstance(event, EntryReceived):
                received += 1
                if args.json:
                    out.write(json.dumps(entry_json(event.entry, event.source.value), ensure_ascii=False) + "\n")
                else:
                    out.write(_human(event.entry, event.source.value, args.lang) + "\n")
                out.flush()
                engine.ack(event.entry.entry_id)
                if args.count and received >= args.count:
                    return 0
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `listen | head -1`: the reader is gone, which is not an error of ours
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (keeps the interpreter's final flush quiet)
        return 0
    finally:
        engine.stop(timeout_s=2.0)


def _cmd_simulate(args: argparse.Namespace) -> int:
    import psycopg2

    from agent.db.simulate import SimulateError, insert_entries

    def show(item: Any) -> None:
        print(
            tr(
                "simulate.inserted",
                args.lang,
                entry_id=item.entry_id,
                access=item.access_type,
                who=f"id_miembro={item.member_id}" if item.member_id is not None else "-",
                result=item.result,
                at=item.occurred_at.isoformat(),
            ),
            flush=True,
        )

    try:
        insert_entries(
            args.dsn,
            count=args.count,
            rate_per_s=args.rate,
            member_id=args.member,
            access_type=args.access_type,
            burst=args.burst,
            result=args.result,
            on_insert=show,
        )
    except SimulateError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except psycopg2.Error as exc:
        print(tr("error.db", args.lang, detail=" ".join(str(exc).split())), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
