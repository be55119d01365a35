"""Adapter factories for the desk: the tray, the ordered notifier chain, the single-instance guard, the state
icons. Each choice has an environment override: ``AVISO_NOTIFIER=auto|dbus|winrt|balloon|console|null`` and
``AVISO_TRAY=pystray|none``.

The notifier chain (issue 11 item 1) is ordered, primary first: Windows ``winrt → balloon → console``; elsewhere
``dbus → balloon → console``. An explicit choice is that notifier then the console; ``console`` and ``null``
stand alone. Notifiers that cannot work here (:class:`~agent.adapters.notifier_api.NotifierUnavailable`) are
left out, with a log line. When the notify helper's ``agent/adapters/choose.py`` lands, :func:`make_notifiers`
becomes a call to it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent import APP_ID, APP_NAME, resources
from agent.adapters.notifier_api import Notifier, NotifierUnavailable
from agent.core.notify_text import Notice
from agent.core.tray_model import IconState, MenuItemSpec, TrayView

log = logging.getLogger("agent.desk.wiring")


def has_display() -> bool:
    """True where a desktop session can show a tray and notifications (always on Windows and macOS)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def icon_paths() -> dict[IconState, Path]:
    """The state icons in ``assets/``: ``.ico`` on Windows (crisp at every DPI), ``.png`` elsewhere."""
    ext = "ico" if sys.platform == "win32" else "png"
    return {state: resources.asset(f"tray-{state.value}.{ext}") for state in IconState}


def make_tray(choice: str, menu: Callable[[bool], Sequence[MenuItemSpec]]) -> TrayView | None:
    """The tray for ``choice`` (``pystray``/``none``); None when it cannot load here (logged). ``menu(has_menu)``
    builds the items (``has_menu`` False: the backend has clicks only)."""
    if choice == "none":
        return None
    if choice != "pystray":
        raise ValueError(f"unknown AVISO_TRAY {choice!r}: use pystray or none")
    try:
        from agent.adapters.tray_pystray import PystrayTray

        has_menu = [True]
        tray = PystrayTray(APP_ID, APP_NAME, icon_paths(), lambda: menu(has_menu[0]))
        has_menu[0] = tray.has_menu
        return tray
    except RuntimeError as exc:
        log.warning("no tray icon: %s", exc)
        return None


def notifier_order(choice: str) -> list[str]:
    """The chain's names for ``choice`` (module docstring). Raises ``ValueError`` for an unknown choice."""
    if choice == "auto":
        return ["winrt", "balloon", "console"] if sys.platform == "win32" else ["dbus", "balloon", "console"]
    if choice in ("dbus", "winrt", "balloon"):
        return [choice, "console"]
    if choice in ("console", "null"):
        return [choice]
    raise ValueError(f"unknown AVISO_NOTIFIER {choice!r}: use dbus, winrt, balloon, console or null")


def make_notifiers(choice: str, tray: TrayView | None, on_click: Callable[[Notice], None]) -> list[Notifier]:
    """The ordered notifier chain for ``choice``, primary first; never empty (the console always works)."""
    chain: list[Notifier] = []
    for name in notifier_order(choice):
        try:
            chain.append(_notifier(name, tray, on_click))
        except NotifierUnavailable as exc:
            log.warning("notifier %s unavailable: %s", name, exc)
    if not chain:
        chain.append(_notifier("console", tray, on_click))
    log.info("notifiers: %s", " → ".join(n.name for n in chain))
    return chain


def _notifier(name: str, tray: TrayView | None, on_click: Callable[[Notice], None]) -> Notifier:
    app_png, app_ico = resources.asset("app.png"), resources.asset("app.ico")
    if name == "dbus":
        from agent.adapters.notifier_linux import DbusNotifier

        return DbusNotifier(APP_NAME, app_png, on_click)
    if name == "winrt":
        from agent.adapters.notifier_windows import WinRtNotifier

        return WinRtNotifier(APP_ID, APP_NAME, stable_asset(app_ico), on_click)
    if name == "balloon":
        if tray is None:
            raise NotifierUnavailable("no tray icon to show balloons on")
        from agent.adapters.notifier_balloon import BalloonNotifier

        return BalloonNotifier(tray.balloon)
    if name == "console":
        from agent.adapters.notifier_console import ConsoleNotifier

        return ConsoleNotifier()
    from agent.adapters.notifier_null import NullNotifier

    return NullNotifier()


def stable_asset(path: Path) -> Path:
    """``path``, or in a one-file PyInstaller build a copy in the user data folder: the bundle is unpacked to a
    temporary folder deleted at exit, and Windows keeps the AUMID's ``IconUri`` for the Action Center."""
    if not getattr(sys, "_MEIPASS", None):
        return path
    import platformdirs

    target = Path(platformdirs.user_data_dir(APP_ID, appauthor=False)) / path.name
    try:
        data = path.read_bytes()
        if not target.exists() or target.read_bytes() != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return target
    except OSError as exc:
        log.warning("could not copy %s to %s: %s", path.name, target, exc)
        return path


def make_single_instance(name: str) -> Any:
    """The single-instance guard for this platform (named mutex on Windows, lock file elsewhere)."""
    if sys.platform == "win32":
        from agent.adapters.single_instance_windows import NamedMutexInstance

        return NamedMutexInstance(f"{APP_ID}-{name}")
    from agent.adapters.single_instance_posix import LockFileInstance, default_lock_dir

    directory = Path(os.environ["AVISO_RUNTIME_DIR"]) if os.environ.get("AVISO_RUNTIME_DIR") else None
    return LockFileInstance(name, directory or default_lock_dir(APP_ID))


EXIT_ALREADY_RUNNING = 3
"""Exit code of ``tray``/``demo`` when another instance runs for this user."""


def hold_single_instance(name: str, lang: str) -> Any:
    """The acquired single-instance guard (call ``release()`` at exit), or None when another instance runs for
    this user (said on stdout and, on Windows, in a message box). Taken before anything that may block."""
    from agent.core.i18n import tr

    instance = make_single_instance(name)
    try:
        acquired = instance.acquire()
    except OSError as exc:
        log.warning("single-instance check failed (%s): continuing", exc)
        acquired = True
    if acquired:
        return instance
    if sys.stdout is not None:
        print(tr("app.already_running", lang), flush=True)
    if sys.platform == "win32":
        from agent.adapters.single_instance_windows import tell_user

        try:
            tell_user(tr("app.already_running", lang), APP_NAME)
        except Exception:
            log.exception("could not tell the user")
    log.info("another instance is running: exiting")
    return None
