"""Tray icon through ``pystray`` (win32 backend on Windows; appindicator/gtk/xorg on Linux). Thin adapter.

Threading (pystray docs, ``Icon.run``): the icon is created and run on the **main thread**; ``run`` blocks until
:meth:`PystrayTray.stop`. pystray calls ``ready`` on its setup thread once the loop runs. Setting the image and
title and ``update_menu`` are safe from another thread (the xorg and gtk backends marshal them to their loop,
win32 sends messages to the icon's window): the tray controller thread does that; the listener worker never
touches the icon. ``stop`` removes the icon from the notification area (no ghost icon) and pystray removes its
own balloon with it.

Menus are built from :class:`agent.core.tray_model.MenuItemSpec` lists each time pystray asks (``update_menu``
on win32, when shown elsewhere). The xorg backend has no menu and no balloon (``has_menu`` is False): a left
click runs the item marked ``default``.

xorg and threads: pystray 0.19.5's xorg backend runs ``icon.icon = ...`` from another thread by sending a
ClientMessage over the icon's own X connection, while its loop may be inside a round trip on that same
connection; python-xlib then loses the reply and both threads hang (seen here within a few updates).
:class:`_XorgFixes` sends those messages over a second, private X connection instead, so the icon's
connection is only ever used by its loop thread. Also, its icon window selects no ``ButtonPress`` events
(``_create_window`` asks for Exposure and StructureNotify only), so its click handler never runs; the same
class adds ``ButtonPressMask`` on pystray's own connection, before the loop starts. And pystray asks to dock
only at start: an agent started before the panel (login autostart) would never show its icon, and trayer was
seen dropping a request made just after it took the tray selection; so every 2 s an icon that is not embedded
asks the current tray host again.

Balloons on Linux: pystray's gtk/appindicator backends send them as a raw D-Bus ``Notify`` (its
``_util/notify_dbus.py``) through the same daemon as :mod:`agent.adapters.notifier_linux`, without escaping the
body for ``body-markup`` servers; on Linux the balloon is therefore only a fallback of last resort before the
console (the xorg backend has none at all).

Selecting a backend: pystray reads ``PYSTRAY_BACKEND`` (``win32``, ``appindicator``, ``gtk``, ``xorg``,
``dummy``); importing pystray with no ``DISPLAY`` on Linux raises unless it is set, which the constructor turns
into ``RuntimeError``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.core.tray_model import TOOLTIP_MAX, IconState, MenuItemSpec, TrayState

log = logging.getLogger("agent.tray")


def _value(v: Any) -> Any:
    return v() if callable(v) else v


MENU_LABEL_MAX = 100
"""Longest menu label, characters: the recent-entries submenu shows members' names from the database, and a
4,000-character name made a menu as wide as the screen."""
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]+")


def menu_label(text: str, backend: str) -> str:
    """``text`` as a menu shows it literally: control characters (a tab starts the shortcut column of a Windows
    menu, a newline breaks it) become one space, the label is cut at :data:`MENU_LABEL_MAX` characters, and on
    ``win32`` each ``&`` is doubled (``MENUITEMINFO`` text: ``&`` marks the mnemonic, ``&&`` shows one, so "Pérez &
    Hijos" showed "Pérez  Hijos" with an underlined blank). GTK labels (``new_with_label``) take text as is. Pure."""
    text = _CONTROLS.sub(" ", text)
    if len(text) > MENU_LABEL_MAX:
        text = text[: MENU_LABEL_MAX - 1] + "…"
    return text.replace("&", "&&") if backend == "win32" else text


class PystrayTray:
    """See the module docstring. ``menu`` returns the current items (called on the tray's thread)."""

    name = "pystray"

    def __init__(
        self,
        app_id: str,
        title: str,
        icons: Mapping[IconState, Path],
        menu: Callable[[], Sequence[MenuItemSpec]],
    ) -> None:
        try:
            import pystray
            from PIL import Image
        except Exception as exc:  # ImportError, Xlib.error.DisplayNameError with no DISPLAY...
            raise RuntimeError(f"pystray cannot load a tray backend: {exc!r}") from exc
        self._pystray: Any = pystray
        self._images = {state: Image.open(path).convert("RGBA") for state, path in icons.items()}
        self._menu_source = menu
        self._stopped = threading.Event()
        try:
            self.icon: Any = pystray.Icon(
                app_id,
                icon=self._images[IconState.CONNECTING],
                title=title[:TOOLTIP_MAX],
                menu=pystray.Menu(lambda: self._items(self._menu_source())),
            )
            self.backend = type(self.icon).__module__.rsplit(".", 1)[-1].lstrip("_")
            self.has_menu = bool(self.icon.HAS_MENU)
            self._xorg = _XorgFixes(self.icon) if self.backend == "xorg" else None
        except Exception as exc:  # X connection refused, no tray host protocol...
            raise RuntimeError(f"the tray icon cannot be created: {exc!r}") from exc
        self._state: TrayState | None = None
        log.info("tray icon backend: %s (menu: %s)", self.backend, "yes" if self.has_menu else "no")

    # -- menu ------------------------------------------------------------------------------------------------
    def _items(self, specs: Sequence[MenuItemSpec]) -> Iterator[Any]:
        ps = self._pystray
        for spec in specs:
            if spec.separator:
                yield ps.Menu.SEPARATOR
                continue
            yield ps.MenuItem(
                (lambda s: lambda _item: menu_label(str(_value(s.text)), self.backend))(spec),
                self._submenu(spec.submenu) if spec.submenu is not None else self._action(spec),
                checked=(lambda s: lambda _item: bool(s.checked and s.checked()))(spec) if spec.checked else None,
                enabled=(lambda s: lambda _item: bool(_value(s.enabled)))(spec),
                default=spec.default,
            )

    def _submenu(self, source: Callable[[], Sequence[MenuItemSpec]]) -> Any:
        return self._pystray.Menu(lambda: self._items(source()))

    @staticmethod
    def _action(spec: MenuItemSpec) -> Callable[[Any, Any], None]:
        def run(_icon: Any, _item: Any) -> None:
            if spec.action is not None:
                try:
                    spec.action()
                except Exception:
                    log.exception("menu action %s failed", spec.key or spec.text)

        return run

    def pystray_menu(self) -> Any:
        """The live ``pystray.Menu`` (tests walk it)."""
        return self.icon.menu

    # -- TrayView --------------------------------------------------------------------------------------------
    def run(self, ready: Callable[[], None]) -> None:
        """Show the icon and run its loop on this (the main) thread until :meth:`stop`."""

        def setup(icon: Any) -> None:
            icon.visible = True
            if self._xorg is not None:
                watcher = threading.Thread(
                    target=self._xorg.watch_docking, args=(self._stopped,), name="aviso-tray-dock", daemon=True
                )
                watcher.start()
            ready()

        self.icon.run(setup=setup)

    def update(self, state: TrayState) -> None:
        """Set the state icon and tooltip (only what changed)."""
        old, self._state = self._state, state
        if old is None or old.icon != state.icon:
            self.icon.icon = self._images[state.icon]
        if old is None or old.tooltip != state.tooltip:
            self.icon.title = self._title(state.tooltip)

    def _title(self, text: str) -> str:
        text = text[:TOOLTIP_MAX]
        if self.backend == "xorg":  # python-xlib writes WM_NAME as Latin-1: "…" and the like would raise
            text = text.replace("…", "...").encode("latin-1", "replace").decode("latin-1")
        return text

    def refresh_menu(self) -> None:
        """Rebuild the menu from the specs (needed on win32, where the menu is not built when shown)."""
        if not self.has_menu:
            return
        with contextlib.suppress(NotImplementedError):  # the dummy backend
            self.icon.update_menu()

    def balloon(self, title: str, body: str) -> bool:
        """Show a notification on our icon when the backend has them (win32 balloon, gtk); else False."""
        if not self.icon.HAS_NOTIFICATION:
            return False
        self.icon.notify(body, title)
        return True

    def stop(self) -> None:
        """End :meth:`run` and remove the icon. Any thread; idempotent."""
        self._stopped.set()
        with contextlib.suppress(NotImplementedError):  # the dummy backend never ran
            self.icon.stop()


_XORG_DISPATCHED = ("_show", "_hide", "_update_icon", "_update_title", "_stop")
REDOCK_CHECK_S = 2.0
"""How often an undocked xorg icon looks for a tray host that appeared later (panel started after the agent)."""


class _XorgFixes:
    """Make clicks reach the icon, replace pystray's xorg cross-thread dispatchers by ones that wake the icon's
    loop through a private X connection, and dock again when a tray host appears (see the module docstring).
    The loop still runs the original methods and reports through the icon's result queue, as before; calls
    from the loop thread run directly. Construct on the thread that created the icon, before ``run``."""

    def __init__(self, icon: Any) -> None:
        import Xlib.display  # type: ignore[import-untyped]
        import Xlib.X  # type: ignore[import-untyped]

        self.icon = icon
        icon._window.change_attributes(
            event_mask=Xlib.X.ExposureMask | Xlib.X.StructureNotifyMask | Xlib.X.ButtonPressMask
        )
        icon._display.flush()
        self.private = Xlib.display.Display()
        self.lock = threading.Lock()
        self.window = self.private.create_resource_object("window", icon._window.id)
        self.tray_selection = self.private.intern_atom(f"_NET_SYSTEM_TRAY_S{self.private.get_default_screen()}")
        for name in _XORG_DISPATCHED:
            setattr(icon, name, self._dispatcher(name))

    def _dispatcher(self, name: str) -> Callable[[], None]:
        import Xlib.protocol.event  # type: ignore[import-untyped]
        import Xlib.X

        icon, private, window = self.icon, self.private, self.window
        original = getattr(icon, name).__wrapped__  # functools.wraps in pystray's dispatcher
        atom = private.intern_atom("_PYSTRAY_" + name.upper())

        def inner() -> None:
            loop = getattr(icon, "_thread", None)
            if loop is not None and loop.ident == threading.get_ident():
                original()
                return
            with self.lock:
                event = Xlib.protocol.event.ClientMessage(
                    window=window, client_type=atom, data=(32, (Xlib.X.CurrentTime, 0, 0, 0, 0))
                )
                private.send_event(window, event, event_mask=Xlib.X.NoEventMask)
                private.flush()
                result = icon._queue.get()
            if result is not True:
                raise result[1]

        return inner

    def tray_host_present(self) -> bool:
        """True when some client owns the system tray selection (freedesktop System Tray spec)."""
        with self.lock:
            owner = self.private.get_selection_owner(self.tray_selection)
        return bool(getattr(owner, "id", owner))

    def embedded(self) -> bool:
        """True when a tray host has reparented our icon window (XEmbed), i.e. the icon is visible."""
        with self.lock:
            tree = self.window.query_tree()
            return bool(tree.parent.id != tree.root.id)

    def watch_docking(self, stopped: threading.Event) -> None:
        """Until ``stopped``: when the icon is not embedded in a tray host but one exists, ask it to dock the
        icon. pystray asks only at start and when its host goes away; a host that starts later (login autostart
        before the panel) or drops an early request (seen with trayer just after it took the selection) would
        leave the icon invisible. Runs on its own daemon thread."""
        while not stopped.wait(REDOCK_CHECK_S):
            try:
                if self.icon._running and not self.embedded() and self.tray_host_present():
                    log.info("a system tray host is there but the icon is not docked: docking it")
                    self.icon._show()
            except Exception:
                log.exception("docking the tray icon failed")
