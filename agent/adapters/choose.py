"""Which adapter runs here, for each port: the one place that imports adapter implementations.

The ``*_api.py`` modules define the ports (protocol, values, errors); the implementations import only those and
:mod:`agent.core`; this module picks among them by platform and by an environment override, the way pystray's
``backend()`` and keyring's ``core.py`` do. The composition (:mod:`agent.desk`, the CLI) calls these functions
once at start-up:

============================  ==========================  =====================================================
function                      override                    choices (default first)
============================  ==========================  =====================================================
:func:`notifiers`             ``AVISO_NOTIFIER``          ``auto``, ``dbus``, ``winrt``, ``balloon``,
                                                          ``console``, ``null``
:func:`tray`                  ``AVISO_TRAY``              ``pystray``, ``none``
:func:`credential_store`      ``AVISO_CREDENTIALS``       ``keyring``, ``memory``
:func:`autostart`             ``AVISO_AUTOSTART``         ``windows`` (Windows) / ``xdg``, ``memory``
:func:`single_instance`       ``AVISO_SINGLE_INSTANCE``   ``windows`` (Windows) / ``posix``, ``memory``
============================  ==========================  =====================================================

Every concern has a twin that needs nothing from the OS (``null``/``console``, ``none``, ``memory``). An
unknown choice raises ``ValueError`` (credentials: :class:`CredentialsUnavailable`, as the CLI reports it). A
choice that cannot work here is skipped with its reason; the reasons are logged together in one line.
Which thread: the main thread, at start-up.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from agent import APP_ID, APP_NAME, resources
from agent.adapters.autostart_api import Autostart
from agent.adapters.credentials_api import CredentialStore, CredentialsUnavailable
from agent.adapters.notifier_api import Notifier, NotifierUnavailable
from agent.adapters.single_instance_api import SingleInstance
from agent.core.notify_text import Notice
from agent.core.tray_model import IconState, MenuItemSpec, TrayView

log = logging.getLogger("agent.adapters")

ENV_NOTIFIER = "AVISO_NOTIFIER"
ENV_TRAY = "AVISO_TRAY"
ENV_CREDENTIALS = "AVISO_CREDENTIALS"
ENV_AUTOSTART = "AVISO_AUTOSTART"
ENV_SINGLE_INSTANCE = "AVISO_SINGLE_INSTANCE"
ENV_RUNTIME_DIR = "AVISO_RUNTIME_DIR"

NOTIFIER_CHOICES = ("auto", "dbus", "winrt", "balloon", "console", "null")
ClickHandler = Callable[[Notice], None]
IconFor = Callable[[Notice], Path | None]


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _pick(env: Mapping[str, str], var: str, default: str) -> str:
    return env.get(var, "").strip().lower() or default


# -- notifiers ---------------------------------------------------------------------------------------------------
def notifier_order(choice: str, platform: str = sys.platform) -> list[str]:
    """The names to try for ``choice``, primary first. Pure.

    ``auto``: ``winrt → balloon → console`` on Windows, ``dbus → balloon → console`` elsewhere. An explicit
    desktop choice keeps the console as its last resort; ``console`` and ``null`` stand alone. Raises
    ``ValueError`` for an unknown name.
    """
    if choice == "auto":
        first = "winrt" if platform == "win32" else "dbus"
        return [first, "balloon", "console"]
    if choice in ("dbus", "winrt", "balloon"):
        return [choice, "console"]
    if choice in ("console", "null"):
        return [choice]
    raise ValueError(f"unknown {ENV_NOTIFIER} {choice!r}: use {', '.join(NOTIFIER_CHOICES)}")


def notifiers(
    choice: str | None = None,
    *,
    tray: TrayView | None = None,
    on_click: ClickHandler | None = None,
    icon_for: IconFor | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Notifier]:
    """The notifiers to use, primary first then its fallbacks, each already constructed (never empty).

    ``choice`` (None: ``$AVISO_NOTIFIER``, else ``auto``) is resolved by :func:`notifier_order`. The balloon needs
    ``tray`` (the tray view whose ``balloon`` it calls); ``on_click(notice)`` runs when a person clicks a
    notification (on the notifier's own thread). ``icon_for(notice)`` gives a per-status icon file (or None: the
    app icon) for the platforms that show one per notification (D-Bus ``app_icon``, the toast's logo when there
    is no photo); it must be quick and must not block. Notifiers that cannot work here are left out and the reasons are
    logged in one line. The desk offers each notice to them in order until one returns True, and closes them all
    at exit. Raises ``ValueError`` for an unknown choice.
    """
    name = choice or _pick(_env(env), ENV_NOTIFIER, "auto")
    chosen: list[Notifier] = []
    skipped: list[str] = []
    for candidate in notifier_order(name):
        try:
            chosen.append(_notifier(candidate, tray, on_click, icon_for))
        except NotifierUnavailable as exc:
            skipped.append(f"{candidate}: {exc}")
    if not chosen:  # "dbus" alone cannot end here (console follows it); kept as a guard
        from agent.adapters.notifier_console import ConsoleNotifier

        chosen.append(ConsoleNotifier())
    log.info(
        "notifiers: %s%s",
        " -> ".join(n.name for n in chosen),
        f" (unavailable: {'; '.join(skipped)})" if skipped else "",
    )
    return chosen


def _notifier(name: str, tray: TrayView | None, on_click: ClickHandler | None, icon_for: IconFor | None) -> Notifier:
    if name == "dbus":
        try:
            from agent.adapters.notifier_linux import DbusNotifier
        except ImportError as exc:
            raise NotifierUnavailable(f"cannot load: {exc}") from exc
        return DbusNotifier(APP_NAME, resources.asset("app.png"), on_click, icon_for=icon_for)
    if name == "winrt":
        from agent.adapters.notifier_windows import WinRtNotifier

        return WinRtNotifier(APP_ID, APP_NAME, stable_asset(resources.asset("app.ico")), on_click, icon_for)
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


# -- tray --------------------------------------------------------------------------------------------------------
def has_display(env: Mapping[str, str] | None = None) -> bool:
    """True where a desktop session can show a tray and notifications (always on Windows and macOS)."""
    if sys.platform in ("win32", "darwin"):
        return True
    e = _env(env)
    return bool(e.get("DISPLAY") or e.get("WAYLAND_DISPLAY"))


def icon_paths() -> dict[IconState, Path]:
    """The state icons in ``assets/``: ``.ico`` on Windows (crisp at every DPI), ``.png`` elsewhere."""
    ext = "ico" if sys.platform == "win32" else "png"
    return {state: resources.asset(f"tray-{state.value}.{ext}") for state in IconState}


def tray(
    choice: str | None = None,
    *,
    menu: Callable[[bool], Sequence[MenuItemSpec]],
    env: Mapping[str, str] | None = None,
) -> TrayView | None:
    """The tray icon, or None (``none``, no display, or the toolkit cannot load here: logged).

    ``choice`` None: ``$AVISO_TRAY``, else ``pystray``. ``menu(has_menu)`` returns the current menu items; it is
    called on the tray's thread with the backend's ``has_menu`` (False on xorg: only the default item is
    reachable, by a click). Raises ``ValueError`` for an unknown choice. Main thread.
    """
    e = _env(env)
    name = choice or _pick(e, ENV_TRAY, "pystray")
    if name == "none":
        return None
    if name != "pystray":
        raise ValueError(f"unknown {ENV_TRAY} {name!r}: use pystray or none")
    if not has_display(e):
        log.info("no display: running without a tray icon")
        return None
    try:
        from agent.adapters.tray_pystray import PystrayTray

        holder = {"has_menu": True}
        view = PystrayTray(APP_ID, APP_NAME, icon_paths(), lambda: menu(holder["has_menu"]))
        holder["has_menu"] = view.has_menu
        return view
    except (ImportError, RuntimeError) as exc:
        log.warning("no tray icon: %s", exc)
        return None


# -- credentials, autostart, single instance -----------------------------------------------------------------------
def credential_store(env: Mapping[str, str] | None = None) -> CredentialStore:
    """The password store: ``$AVISO_CREDENTIALS`` (``keyring`` default, ``memory`` for tests).

    Raises :class:`~agent.adapters.credentials_api.CredentialsUnavailable` for an unknown choice or when the OS
    keyring cannot be used here (no Secret Service running, etc.); its ``detail`` says why.
    """
    e = _env(env)
    name = _pick(e, ENV_CREDENTIALS, "keyring")
    if name == "memory":
        from agent.adapters.credentials_memory import MemoryStore

        return MemoryStore()
    if name != "keyring":
        raise CredentialsUnavailable(f"{ENV_CREDENTIALS}={name!r} is not one of: keyring, memory")
    from agent.adapters.credentials_keyring import KeyringStore

    return KeyringStore.open(e)


def autostart(env: Mapping[str, str] | None = None) -> Autostart:
    """Login start-up for this OS, or the one ``$AVISO_AUTOSTART`` names (``windows``, ``xdg``, ``memory``).
    Raises ``ValueError`` for an unknown name or ``windows`` off Windows."""
    e = _env(env)
    name = _pick(e, ENV_AUTOSTART, "windows" if sys.platform == "win32" else "xdg")
    if name == "memory":
        from agent.adapters.autostart_memory import MemoryAutostart

        return MemoryAutostart()
    if name == "xdg":
        from agent.adapters.autostart_xdg import XdgAutostart

        return XdgAutostart.for_environment(e, resources.asset("app.png"))
    if name == "windows":
        if sys.platform == "win32":
            from agent.adapters.autostart_windows import RegistryAutostart

            return RegistryAutostart()
        raise ValueError(f"{ENV_AUTOSTART}=windows needs Windows")
    raise ValueError(f"{ENV_AUTOSTART}={name!r} is not one of: windows, xdg, memory")


def single_instance(name: str, env: Mapping[str, str] | None = None) -> SingleInstance:
    """The per-user guard for instance ``name``: a named mutex on Windows, a lock file in
    ``$AVISO_RUNTIME_DIR`` (default: the user runtime folder) elsewhere, or ``$AVISO_SINGLE_INSTANCE``'s choice
    (``windows``, ``posix``, ``memory``). Raises ``ValueError`` for an unknown name or ``windows`` off Windows."""
    e = _env(env)
    kind = _pick(e, ENV_SINGLE_INSTANCE, "windows" if sys.platform == "win32" else "posix")
    if kind == "memory":
        from agent.adapters.single_instance_memory import MemoryInstance

        return MemoryInstance(name)
    if kind == "windows":
        if sys.platform != "win32":
            raise ValueError(f"{ENV_SINGLE_INSTANCE}=windows needs Windows")
        from agent.adapters.single_instance_windows import NamedMutexInstance

        return NamedMutexInstance(f"{APP_ID}-{name}")
    if kind == "posix":
        from agent.adapters.single_instance_posix import LockFileInstance, default_lock_dir

        directory = Path(e[ENV_RUNTIME_DIR]) if e.get(ENV_RUNTIME_DIR) else default_lock_dir(APP_ID)
        return LockFileInstance(name, directory)
    raise ValueError(f"{ENV_SINGLE_INSTANCE}={kind!r} is not one of: windows, posix, memory")


def tell_user(text: str, title: str = APP_NAME) -> None:
    """Say ``text`` in a message box when the process has no console (the windowed exe on Windows); nothing
    elsewhere. For the "already running" case, so a second start double-clicked by staff is not silent."""
    if sys.platform == "win32":
        from agent.adapters.single_instance_windows import tell_user as message_box

        message_box(text, title)
