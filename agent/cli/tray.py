"""The tray agent (``python -m agent`` / ``python -m agent tray``); ``python -m agent demo`` is registered here and
lives in :mod:`agent.cli.demo`.

Handlers run on the main thread (pystray needs it) and return an exit code: 0 normal exit, 1 start-up failure,
2 usage or configuration error, 3 another instance is already running for this user.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.cli import demo

if TYPE_CHECKING:
    from agent.core.config import Settings
    from agent.deploy.connection import ConnectionParams
    from agent.desk.compose import Reading

AddArg = Callable[[argparse.ArgumentParser], None]
log = logging.getLogger("agent.cli")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add ``tray`` and ``demo`` to ``sub``."""
    p = sub.add_parser("tray", help="run the tray agent (the same as no command), with per-run overrides")
    p.add_argument(
        "--dsn",
        default=None,
        help="libpq conninfo/URL instead of the configured server (password: from it or PGPASSWORD)",
    )
    _add_run_options(p)
    p.set_defaults(handler=run_tray)

    p = sub.add_parser("demo", help="the agent on an embedded PostgreSQL with a simulated turnstile, no set-up")
    _add_run_options(p)
    p.add_argument(
        "--interval",
        type=float,
        default=demo.DEMO_INTERVAL_S,
        help=f"seconds between simulated turnstile entries (default {demo.DEMO_INTERVAL_S:g})",
    )
    p.set_defaults(handler=demo.run_demo)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--headless", action="store_true", help="no tray icon; print notifications to the console")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="quit after S seconds (scripts, tests)")
    p.add_argument("--flood-max", type=int, default=None, metavar="K", help="at most K notifications per window")
    p.add_argument("--flood-window", type=float, default=None, metavar="T", help="flood-control window, seconds")
    p.add_argument("-v", "--verbose", action="store_true", help="also log to stderr")


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if getattr(args, "flood_max", None) is not None:
        out["notifications.flood_max_count"] = args.flood_max
    if getattr(args, "flood_window", None) is not None:
        out["notifications.flood_window_s"] = args.flood_window
    return out


def _language(args: argparse.Namespace, configured: str) -> str:
    """``--lang``/``AVISO_LANG`` when given, else the configured notification language."""
    explicit = any(a == "--lang" or a.startswith("--lang=") for a in sys.argv[1:]) or bool(os.environ.get("AVISO_LANG"))
    return str(args.lang) if explicit else configured


def run_tray(args: argparse.Namespace) -> int:
    """Run the tray agent until quit. Settings: config files + environment (``agent.deploy.config_files``) + options;
    password: the OS keyring (``agent.adapters.credentials_api``), or with ``--dsn`` the DSN/``PGPASSWORD``.

    Start-up order (issue 11 items 3 and 5): the single-instance lock first (a second start that would hang on a
    locked keyring exits at once), then logging (so a bad configuration is logged), then the configuration, then
    the password, read with a 5 s bound (:func:`agent.deploy.connection.resolve`): a locked keyring leaves the
    tray up in its own state, retried, and ``--duration`` is honoured. A failure to start is logged and told to
    the person (:mod:`agent.desk.fatal`), exit code 2 (configuration) or 1."""
    from agent import logging_setup
    from agent.desk import wiring

    lang = str(args.lang)
    instance = wiring.hold_single_instance("agent", lang)
    if instance is None:
        return wiring.EXIT_ALREADY_RUNNING
    log_file = None
    try:
        log_file = logging_setup.setup_logging("INFO", console=bool(getattr(args, "verbose", False)))
        logging_setup.install_excepthooks()
        return _run_tray_locked(args, log_file)
    except Exception as exc:
        log.exception("the tray agent failed")
        _fatal(lang, str(exc), log_file)
        return 1
    finally:
        instance.release()


def _run_tray_locked(args: argparse.Namespace, log_file: Any) -> int:
    from agent import logging_setup
    from agent.core.config import ConfigError
    from agent.deploy import config_files
    from agent.deploy.connection import ConnectionSetupError, resolve
    from agent.desk import compose

    overrides = _overrides(args)
    try:
        loaded = config_files.load(overrides=overrides)
    except ConfigError as exc:
        log.error("configuration error: %s", exc.describe("en"))
        _fatal(str(args.lang), exc.describe(args.lang), log_file)
        return 2
    settings = loaded.settings
    lang = _language(args, settings.notifications.language)
    log_file = logging_setup.setup_logging(settings.log_level, console=bool(getattr(args, "verbose", False)))
    dsn_arg = getattr(args, "dsn", None)
    reload = None
    try:
        # with --dsn: the DSN's password or PGPASSWORD/.pgpass, and "reload" only reconnects
        params = resolve(None, dsn_override=dsn_arg) if dsn_arg is not None else resolve(settings.connection)
    except ConnectionSetupError as exc:  # malformed --dsn (never echoed), unusable sslrootcert=system
        log.error("connection settings: %s", type(exc).__name__)
        _fatal(lang, exc.message(lang), log_file)
        return 2
    first = _reading(params, settings, lang)
    if dsn_arg is None:

        def reload() -> compose.Reading:
            fresh: Settings = config_files.load(overrides=overrides).settings  # ConfigError: logged by the reloader
            return _reading(resolve(fresh.connection), fresh, lang)

    opts = compose.AgentOptions(
        dsn=first.dsn,
        password=first.password,
        sslmode=first.sslmode,
        sslrootcert=first.sslrootcert,
        settings=settings,
        lang=lang,
        headless=bool(getattr(args, "headless", False)),
        duration_s=getattr(args, "duration", None),
        cursor_path=config_files.state_dir() / "delivery-cursor.json",
        log_file=log_file,
        reload=reload,
        keyring_problem=first.keyring_problem,
        keyring_state=first.keyring_state,
    )
    log.info("tray agent %s", "headless" if opts.headless else "with tray")
    page = None if opts.headless else _page_factory(settings, lang, params)
    return compose.run_agent(opts, photos=_photo_source(settings), local_page=page)


def _page_factory(settings: Settings, lang: str, params: ConnectionParams) -> Any:
    """The local page's factory for :func:`agent.desk.compose.run_agent` ("Entradas de hoy" and the settings form,
    :func:`agent.web.desk_page.start_for_desk`), reading today's entries with the agent's own connection."""
    from agent.desk.click import run_click_action
    from agent.photos.api import PhotoSource
    from agent.web.desk_page import start_for_desk

    def start(reload_settings: Callable[[], None], photos: PhotoSource) -> Any:
        return start_for_desk(
            lang=lang,
            settings=settings,
            connect_kwargs=params.connect_kwargs(application_name="aviso-entradas page"),
            reload_settings=reload_settings,
            run_click=run_click_action,
            photos=photos,
        )

    return start


def _reading(params: ConnectionParams, settings: Settings, lang: str) -> Reading:
    """:class:`agent.desk.compose.Reading` from :func:`agent.deploy.connection.resolve`'s parameters: a keyring
    that could not be read (locked, unreachable, not answering) becomes the tray's keyring state; "no password
    stored" does not (``PGPASSWORD``/``.pgpass`` may still apply; the engine then says "no password")."""
    from agent.deploy.connection import KeyringProblem
    from agent.desk import compose

    problem = params.password_problem
    keyring = problem if isinstance(problem, KeyringProblem) else None
    if keyring is not None:
        log.warning("no password from the OS keyring: %s (%s)", type(keyring).__name__, keyring.detail)
    return compose.Reading(
        params.dsn,
        params.password,
        settings,
        keyring.message(lang) if keyring else "",
        keyring.state(lang) if keyring else "",
        sslmode=params.sslmode,
        sslrootcert=params.sslrootcert,
    )


def _photo_source(settings: Any) -> Any:
    """The member photo source (:mod:`agent.photos.source`), or None (no photos) when it cannot load."""
    try:
        from agent.photos.source import Photos

        return Photos(settings.photos)
    except Exception:  # a broken cache folder or image library must not stop the agent
        log.exception("member photos unavailable")
        return None


def _fatal(lang: str, detail: str, log_file: Any) -> None:
    """Tell the person why the agent cannot start (stderr; a message box in a windowed build)."""
    from agent import logging_setup
    from agent.core.i18n import tr
    from agent.desk import fatal

    text = tr("app.fatal_title", lang) + "\n\n" + detail
    if log_file is not None:
        text += "\n\n" + tr("app.fatal_log", lang, path=str(log_file))
    fatal.tell(text, windowed=logging_setup.windowed(), title=tr("app.fatal_title", lang))
