"""Linux notifier: ``org.freedesktop.Notifications`` spoken directly over the D-Bus session bus with ``dbus-fast``.

Why not desktop-notifier any more: its ``send()`` catches and logs every failure itself (``backends/base.py``),
so a caller cannot tell a shown notice from a lost one; it caches the server's capabilities forever and keeps
only its own capability names, so ``body-markup`` is invisible and a restarted daemon is never asked again
(issue 11). The protocol is four calls and two signals; this module makes them itself.

* **Threads** — one asyncio loop in a daemon thread (``aviso-dbus``) owns the bus connection for the process'
  life, so click signals (``ActionInvoked``) are received between notices. :meth:`show` (desk thread) waits for
  the server's reply at most ``reply_timeout_s`` (1 s).
* **Accepted** — ``show`` returns True only when ``Notify`` returned a notification id. No server on the bus
  (``org.freedesktop.DBus.Error.ServiceUnknown``/``NameHasNoOwner``: a daemon started without D-Bus activation
  that crashed), an error reply, or no reply in time → False at once, and the next notice asks the server for its
  capabilities again. A new owner of the name (``NameOwnerChanged``, i.e. the daemon restarted) also drops the
  cached capabilities. A slow server that answers after the timeout may still show the notice: the desk's
  fallback then shows it a second time, never zero times.
* **Text** — the summary is plain text; the body is escaped when the server advertises ``body-markup``
  (freedesktop Notifications spec, "Markup"), by :func:`agent.adapters.notifier_api.markup_body`. Both are cut
  (:data:`TITLE_MAX`, :data:`BODY_MAX` characters, then ``…``): dunst lays the text out before it answers the
  next call, so a 100,000-character plan name from the database made the *next* notice time out (0.26 s for
  20,000 characters, 0.86 s for 50,000, over 1 s for 100,000; 0.05 s for the bounds below).
* **Mapping** — critical urgency → ``urgency`` hint 2 (spec, "Urgency Levels") and the sound theme name
  ``dialog-warning``; normal → ``message-new-instant``; low → no sound ("Sound Naming Specification"; servers
  without the ``sound`` capability ignore it). The member's photo (``Notice.photo_path``, a local file the desk
  resolved) goes in the ``image-path`` hint as a ``file://`` URI (spec, "Hints"). The ``app_icon`` argument of
  ``Notify`` is ``icon_for(notice)`` when that gives an existing file (a per-status icon: the colour of the
  entry's status), else the app's icon.
* **Click** — when the server has ``actions``, the ``default`` action is offered; ``ActionInvoked`` from the
  server that showed the notice calls ``on_click(notice)`` on the ``aviso-dbus`` thread. When the server changes
  (``NameOwnerChanged``, or a ``Notify`` answered by another connection) the remembered notices are forgotten:
  ids start again from 1 and some servers broadcast their clicks to every client.

Start-up: no session bus or ``dbus-fast`` missing raises :class:`~agent.adapters.notifier_api.NotifierUnavailable`
(the chooser leaves this notifier out). A bus without a notification server yet (the agent started at login
before the desktop's daemon) is not an error: notices return False until a server appears.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.adapters.notifier_api import (
    NotifierBase,
    NotifierUnavailable,
    clip,
    markup_body,
    plain_text,
    status_icon,
    usable_file,
)
from agent.core.notify_text import Notice, Sound, Urgency

log = logging.getLogger("agent.notify")

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
GONE_ERRORS = frozenset({"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"})
SOUND_NAMES = {Sound.DEFAULT: "message-new-instant", Sound.WARNING: "dialog-warning"}
URGENCY_BYTE = {Urgency.LOW: 0, Urgency.NORMAL: 1, Urgency.CRITICAL: 2}
TITLE_MAX = 4096
"""Longest summary sent, characters (a 4,000-character name still arrives whole)."""
BODY_MAX = 8192
"""Longest body sent, characters, before escaping."""
CLICKABLE_KEPT = 256
"""How many shown notices are remembered for their click (older ones are forgotten, oldest first)."""
_MATCH_RULES = (
    f"type='signal',interface='{SERVICE}',path='{PATH}',member='ActionInvoked'",
    f"type='signal',interface='{SERVICE}',path='{PATH}',member='NotificationClosed'",
    "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',"
    f"arg0='{SERVICE}'",
)


class ServerError(RuntimeError):
    """The notification server answered with a D-Bus error, or is not on the bus. ``name`` is the error name."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(f"{name}: {text}" if text else name)
        self.name = name


class DbusNotifier(NotifierBase):
    """See the module docstring. ``show`` from the desk's thread; ``close`` once. ``bus_address`` None: the
    session bus of ``$DBUS_SESSION_BUS_ADDRESS``. ``icon_for(notice)`` (on the ``aviso-dbus`` thread, must not
    block) gives a per-status icon file or None."""

    name = "dbus"

    def __init__(
        self,
        app_name: str,
        app_icon: Path | None = None,
        on_click: Callable[[Notice], None] | None = None,
        *,
        reply_timeout_s: float = 1.0,
        connect_timeout_s: float = 5.0,
        bus_address: str | None = None,
        icon_for: Callable[[Notice], Path | None] | None = None,
    ) -> None:
        try:
            import dbus_fast  # noqa: F401 (probe: the chooser reports a missing library)
        except ImportError as exc:
            raise NotifierUnavailable(f"dbus-fast is not installed: {exc}") from exc
        self._app_name = app_name
        self._app_icon = app_icon.resolve().as_uri() if app_icon is not None and usable_file(app_icon) else ""
        self._on_click = on_click
        self._icon_for = icon_for
        self._reply_timeout_s = reply_timeout_s
        self._bus_address = bus_address
        self._bus: Any = None
        self._server: str | None = None
        self.capabilities: frozenset[str] | None = None
        """The server's ``GetCapabilities`` answer, None until asked (again)."""
        self._clickable: collections.OrderedDict[int, Notice] = collections.OrderedDict()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="aviso-dbus", daemon=True)
        self._thread.start()
        try:
            self._call_soon(self._connect(), connect_timeout_s)
        except Exception as exc:  # InvalidAddressError (no session bus), OSError, AuthError, timeout...
            self._close()
            raise NotifierUnavailable(f"no D-Bus session bus: {exc!r}") from exc
        try:
            caps = self._call_soon(self._capabilities(), connect_timeout_s)
            log.info("D-Bus notification server capabilities: %s", ", ".join(sorted(caps)))
        except Exception as exc:
            log.warning("no notification server on the session bus yet (%s): notices wait for one", exc)

    # -- desk side -------------------------------------------------------------------------------------------
    def _call_soon(self, coro: Any, timeout_s: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout_s} s") from None

    def _show(self, notice: Notice) -> bool:
        try:
            return bool(self._call_soon(self._notify(notice), self._reply_timeout_s))
        except TimeoutError:
            self.capabilities = None
            raise

    def _close(self) -> None:
        if self._loop.is_closed():
            return

        async def disconnect() -> None:
            if self._bus is not None:
                self._bus.disconnect()

        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(disconnect(), self._loop).result(timeout=1.0)
            except Exception as exc:  # the bus is already gone
                log.debug("D-Bus disconnect: %r", exc)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=1.0)
        if not self._thread.is_alive():
            self._loop.close()

    # -- loop side -------------------------------------------------------------------------------------------
    async def _connect(self) -> Any:
        from dbus_fast.aio import MessageBus

        bus = await MessageBus(bus_address=self._bus_address).connect()
        bus.add_message_handler(self._on_message)
        for rule in _MATCH_RULES:
            await self._call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                             "AddMatch", "s", [rule])  # fmt: skip
        self._bus = bus
        return bus

    async def _ready_bus(self) -> Any:
        if self._bus is None or not self._bus.connected:
            log.info("D-Bus session connection lost: connecting again")
            self._bus = None
            self.capabilities = None
            await self._connect()
        return self._bus

    async def _call(self, bus: Any, dest: str, path: str, iface: str, member: str, sig: str, body: list[Any]) -> Any:
        from dbus_fast import Message, MessageType

        reply = await bus.call(
            Message(destination=dest, path=path, interface=iface, member=member, signature=sig, body=body)
        )
        if reply.message_type == MessageType.ERROR:
            text = str(reply.body[0]) if reply.body else ""
            if reply.error_name in GONE_ERRORS:
                self.capabilities = None
            raise ServerError(str(reply.error_name), text)
        return reply

    async def _capabilities(self) -> frozenset[str]:
        bus = await self._ready_bus()
        reply = await self._call(bus, SERVICE, PATH, SERVICE, "GetCapabilities", "", [])
        self.capabilities = frozenset(str(c) for c in reply.body[0])
        return self.capabilities

    async def _notify(self, notice: Notice) -> bool:
        from dbus_fast import Variant

        caps = self.capabilities
        if caps is None:
            caps = await self._capabilities()
            log.info("notification server (again) on the bus; capabilities: %s", ", ".join(sorted(caps)))
        bus = await self._ready_bus()
        hints: dict[str, Any] = {"urgency": Variant("y", URGENCY_BYTE[notice.urgency])}
        sound = SOUND_NAMES.get(notice.sound)
        if sound:
            hints["sound-name"] = Variant("s", sound)
        if notice.photo_path is not None and usable_file(notice.photo_path):
            hints["image-path"] = Variant("s", notice.photo_path.resolve().as_uri())
        actions = ["default", ""] if self._on_click is not None and "actions" in caps else []
        body = [
            self._app_name,
            0,
            self._icon_uri(notice),
            plain_text(clip(notice.title, TITLE_MAX)),
            markup_body(clip(notice.body, BODY_MAX), "body-markup" in caps),
            actions,
            hints,
            -1,
        ]
        reply = await self._call(bus, SERVICE, PATH, SERVICE, "Notify", "susssasa{sv}i", body)
        if reply.sender != self._server:
            self._forget_server(reply.sender)
        if actions:
            self._clickable[int(reply.body[0])] = notice
            while len(self._clickable) > CLICKABLE_KEPT:
                self._clickable.popitem(last=False)
        return True

    def _icon_uri(self, notice: Notice) -> str:
        icon = status_icon(self._icon_for, notice)
        return icon.resolve().as_uri() if icon is not None else self._app_icon

    def _forget_server(self, new_owner: str | None) -> None:
        """The server changed (restarted, replaced, or we reconnected): its notification ids mean nothing now. A
        new server numbers from 1 again, and servers that broadcast ``ActionInvoked`` (GNOME Shell's
        ``emit_signal`` has no destination) would otherwise turn a click on *another app's* notification N into
        a click on our old notice N. Loop thread."""
        self._server = new_owner
        self._clickable.clear()

    def _on_message(self, msg: Any) -> None:
        """Signals (on the loop thread): clicks, closes, and the server leaving or coming back."""
        member = msg.member
        if member == "NameOwnerChanged" and msg.body and msg.body[0] == SERVICE:
            self.capabilities = None
            self._forget_server(msg.body[2] or None)
            log.info("notification server %s", "changed: capabilities asked again" if msg.body[2] else "left the bus")
            return
        if msg.interface != SERVICE or msg.sender != self._server or not msg.body:
            return
        if member == "NotificationClosed":
            self._clickable.pop(int(msg.body[0]), None)
        elif member == "ActionInvoked":
            notice = self._clickable.pop(int(msg.body[0]), None)
            if notice is not None and msg.body[1] == "default" and self._on_click is not None:
                try:
                    self._on_click(notice)
                except Exception:
                    log.exception("click handler failed")
