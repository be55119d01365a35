"""Linux notifier: freedesktop notifications over the D-Bus session bus through ``desktop-notifier``.

Thin adapter. ``desktop-notifier`` (maintained; its D-Bus backend speaks ``org.freedesktop.Notifications`` with
``dbus-fast``) is asyncio-based: this adapter owns one event loop in a daemon thread (``aviso-dbus``) for the
process' life, so sending never blocks the tray and click signals (``ActionInvoked``) are received. Its
synchronous class is not used: it only spins a loop during each call, and clicks are lost in between (its own
docstring says callbacks need a running loop).

Mapping: critical urgency → ``urgency`` hint 2 (freedesktop Notifications spec, "Urgency Levels") and the sound
theme name ``dialog-warning``; normal → ``message-new-instant``; low → no sound ("Sound Naming Specification";
servers without the ``sound`` capability ignore it). A local photo (path or ``file://`` URI) is the icon; remote
photos are not fetched. Clicking the notification (the ``default`` action, when the server offers actions) calls
``on_click(notice)`` on the ``aviso-dbus`` thread.

Start-up probe: the constructor asks the server for its capabilities; no session bus
(``dbus_fast.errors.InvalidAddressError``) or no notification server (``DBusError``) raises
:class:`agent.adapters.notifier_api.NotifierUnavailable` within ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from agent.adapters.notifier_api import NotifierUnavailable
from agent.core.notify_text import Notice, Sound, Urgency

log = logging.getLogger("agent.notify")

SOUND_NAMES = {Sound.DEFAULT: "message-new-instant", Sound.WARNING: "dialog-warning"}


def local_image(photo: str | None) -> Path | None:
    """``photo`` as an existing local file, else None (URLs other than ``file://`` are not fetched)."""
    if not photo:
        return None
    parsed = urlparse(photo)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif len(parsed.scheme) <= 1:  # a plain path (a one-letter "scheme" is a Windows drive)
        path = Path(photo)
    else:
        return None
    return path if path.is_file() else None


class DbusNotifier:
    """See the module docstring. ``show`` may be called from any thread and returns at once."""

    name = "dbus"

    def __init__(
        self,
        app_name: str,
        app_icon: Path | None = None,
        on_click: Callable[[Notice], None] | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        try:
            from dbus_fast.errors import DBusError, InvalidAddressError
            from desktop_notifier import DesktopNotifier, Icon
        except ImportError as exc:
            raise NotifierUnavailable(f"desktop-notifier is not installed: {exc}") from exc
        self._on_click = on_click
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="aviso-dbus", daemon=True)
        self._thread.start()
        icon = Icon(path=app_icon) if app_icon is not None and app_icon.is_file() else None

        async def make() -> Any:
            notifier = DesktopNotifier(app_name=app_name, app_icon=icon)
            caps = await notifier.get_capabilities()
            return notifier, caps

        try:
            self._notifier, caps = self._run(make(), timeout_s)
        except (DBusError, InvalidAddressError, OSError, concurrent.futures.TimeoutError, ValueError) as exc:
            self.close()
            raise NotifierUnavailable(f"no desktop notification service on the D-Bus session bus: {exc!r}") from exc
        self.capabilities = frozenset(c.name for c in caps)
        log.info("D-Bus notifications ready (capabilities: %s)", ", ".join(sorted(self.capabilities)))

    def _run(self, coro: Any, timeout_s: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout_s)

    def show(self, notice: Notice) -> bool:
        """Send ``notice``; failures are logged by the loop thread.

        Still fire-and-forget (True once queued): issue 11 makes it wait for the server's notification id."""
        future = asyncio.run_coroutine_threadsafe(self._send(notice), self._loop)
        future.add_done_callback(_log_failure)
        return True

    async def _send(self, notice: Notice) -> None:
        from desktop_notifier import Icon
        from desktop_notifier import Sound as DnSound
        from desktop_notifier import Urgency as DnUrgency

        urgency = {
            Urgency.LOW: DnUrgency.Low,
            Urgency.NORMAL: DnUrgency.Normal,
            Urgency.CRITICAL: DnUrgency.Critical,
        }[notice.urgency]
        sound_name = SOUND_NAMES.get(notice.sound)
        photo = local_image(notice.photo)
        on_clicked = None
        if self._on_click is not None:
            callback = self._on_click

            def on_clicked() -> None:
                callback(notice)

        await self._notifier.send(
            title=notice.title,
            message=notice.body,
            urgency=urgency,
            icon=Icon(path=photo) if photo is not None else None,
            sound=DnSound(name=sound_name) if sound_name else None,
            on_clicked=on_clicked,
        )

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop the loop thread (pending sends get ``timeout_s`` seconds)."""
        if self._loop.is_closed():
            return

        async def drain() -> None:
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if pending:
                await asyncio.wait(pending, timeout=timeout_s)

        try:
            if self._thread.is_alive():
                asyncio.run_coroutine_threadsafe(drain(), self._loop).result(timeout=timeout_s + 0.5)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=timeout_s)
        if not self._thread.is_alive():
            self._loop.close()


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("D-Bus notification failed: %r", exc)
