"""The presenter: the desk's state (:class:`agent.desk.state.DeskView`) → the tray's look (icon, tooltip, status
line) and its menu (:class:`agent.core.tray_model.MenuItemSpec`). Pure functions, no I/O.

Icon, most important first: repeated internal failures → ``ERROR``; paused → ``PAUSED``; no connection (or no
password from the keyring) → ``CONNECTING``/``ERROR``; display path degraded → ``DEGRADED``; warnings-only →
``QUIET``; else ``CONNECTED`` (green). The tooltip says each of these in words, within Windows' 127 characters.

Menu items only *post* commands (:mod:`agent.desk.messages`) through ``post``; their texts and ``enabled`` flags
read the latest view through ``view`` when the tray adapter builds the menu (on the tray's thread).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent import APP_NAME
from agent.core.events import ConnState
from agent.core.i18n import tr
from agent.core.notify_text import Notice, Tone, plural
from agent.core.tray_model import SEPARATOR, TOOLTIP_MAX, IconState, MenuItemSpec, TrayState
from agent.desk import messages as m
from agent.desk.app import MenuContext, MenuSection
from agent.desk.state import DeskView

log = logging.getLogger("agent.desk.presenter")

REASON_MAX = 60
"""The connection problem's sentence is cut to this many characters in the tooltip."""
RECENT_TEXT_MAX = 90
TONE_MARKS = {Tone.GREEN: "🟢", Tone.RED: "🔴", Tone.AMBER: "🟠", Tone.BLUE: "🔵", Tone.NEUTRAL: "⚪"}
"""The coloured marker of the recent list; the status text always follows it (never colour alone)."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_word(view: DeskView, now: float) -> str:
    """The connection state in a few words ("Conectado", "Sin conexión, reintento en 6 s", "Llavero bloqueado")."""
    c, lang = view.conn, view.lang
    if c.state is ConnState.LISTENING:
        return tr("state.listening", lang)
    if view.keyring_problem:
        word = view.keyring_state or tr("cred.state.error", lang)
        return word[:1].upper() + word[1:]
    if c.state is ConnState.CONNECTING:
        return tr("state.connecting", lang)
    if c.state is ConnState.AUTH_FAILED:
        return tr("state.auth_failed", lang)
    if c.state is ConnState.STOPPED:
        return tr("state.stopped", lang)
    if c.retry_in_s is not None:
        left = max(0, math.ceil(c.retry_in_s - (now - view.conn_at)))
        return tr("state.backing_off", lang, seconds=left)
    return tr("state.backing_off_plain", lang)


def pause_text(view: DeskView) -> str:
    """ "En pausa hasta las HH:MM" or "En pausa hasta reanudar"."""
    if view.paused_until == math.inf:
        return tr("state.paused_indefinitely", view.lang)
    return tr("state.paused_until", view.lang, time=view.pause_until_text)


def icon(view: DeskView) -> IconState:
    """The icon for ``view`` (order in the module docstring)."""
    if view.faulted:
        return IconState.ERROR
    if view.paused:
        return IconState.PAUSED
    if view.conn.state is not ConnState.LISTENING:
        connecting = view.conn.state is ConnState.CONNECTING and not view.keyring_problem
        return IconState.CONNECTING if connecting else IconState.ERROR
    if view.degraded:
        return IconState.DEGRADED
    if view.only_warnings:
        return IconState.QUIET
    return IconState.CONNECTED


def tray_state(view: DeskView, now: float) -> TrayState:
    """Icon, tooltip and the menu's status line."""
    lang = view.lang
    status = status_word(view, now)
    lines = [f"{APP_NAME}: {status}"]
    if view.faulted:
        lines.append(tr("tooltip.fault", lang))
    if view.degraded:
        lines.append(_cut(tr("tooltip.degraded", lang, notifier=view.degraded, missed=view.missed), REASON_MAX))
    if view.paused:
        lines.append(pause_text(view))
    reason = view.conn.reason or (view.keyring_problem if view.conn.state is not ConnState.LISTENING else "")
    if reason and view.conn.state is not ConnState.LISTENING:
        lines.append(_cut(reason, REASON_MAX))
    if view.only_warnings:
        lines.append(tr("tooltip.only_warnings", lang))
    lines.append(plural("tooltip.today", view.today_count, lang))
    server = tr("tooltip.server", lang, server=view.conn.server) if view.conn.server else ""
    if server and len("\n".join([*lines, server])) <= TOOLTIP_MAX:
        lines.append(server)
    status_line = status + (f" · {pause_text(view)}" if view.paused else "")
    return TrayState(icon=icon(view), tooltip="\n".join(lines)[:TOOLTIP_MAX], status_line=status_line)


def recent_text(notice: Notice) -> str:
    """One line of the recent list: time, a coloured marker, the name, the status text (and ⚠ for warnings)."""
    time_text = notice.body.split("\n", 1)[0].rsplit(" ", 1)[-1]
    text = f"{time_text}  {TONE_MARKS[notice.tone]} {notice.title}"
    if notice.status_text:
        text += f" — {notice.status_text}"
    return _cut(text, RECENT_TEXT_MAX) + ("  ⚠" if notice.warning else "")


@dataclass(frozen=True)
class Snapshot:
    """What the menu reads: the latest view and the tray look made from it (replaced whole by the desk thread)."""

    view: DeskView
    tray: TrayState


def menu_items(
    snapshot: Callable[[], Snapshot],
    post: Callable[[m.Command], None],
    *,
    quit_now: Callable[[], None],
    sections: Sequence[MenuSection] = (),
    context: MenuContext | None = None,
    has_log: bool = True,
    has_menu: bool = True,
) -> list[MenuItemSpec]:
    """The tray menu. ``has_menu=False`` (xorg backend: clicks only) makes "pause/resume" the click action.
    ``sections`` get ``context``; a failing section is logged and left out."""
    first = snapshot().view
    lang, pauses = first.lang, first.settings.pause
    short, long_ = pauses.short_pause_min, pauses.long_pause_min
    long_text = (
        tr("menu.pause_long", lang, hours=f"{long_ / 60:g}")
        if long_ % 60 == 0
        else tr("menu.pause_short", lang, minutes=long_)
    )
    items = [
        MenuItemSpec(text=lambda: snapshot().tray.status_line, enabled=False, key="status"),
        SEPARATOR,
        MenuItemSpec(
            text=tr("menu.pause_short", lang, minutes=short), action=lambda: post(m.Pause(short)), key="pause_short"
        ),
        MenuItemSpec(text=long_text, action=lambda: post(m.Pause(long_)), key="pause_long"),
        MenuItemSpec(
            text=tr("menu.pause_indefinite", lang), action=lambda: post(m.Pause(None)), key="pause_indefinite"
        ),
        MenuItemSpec(
            text=tr("menu.resume", lang),
            action=lambda: post(m.Resume()),
            enabled=lambda: snapshot().view.paused,
            key="resume",
        ),
        MenuItemSpec(
            text=tr("menu.only_warnings", lang),
            action=lambda: post(m.ToggleWarningsOnly()),
            checked=lambda: snapshot().view.only_warnings,
            key="only_warnings",
        ),
    ]
    if not has_menu:
        items.append(
            MenuItemSpec(
                text=tr("menu.toggle_pause", lang), action=lambda: post(m.TogglePause()), default=True, key="toggle"
            )
        )
    items += [
        SEPARATOR,
        MenuItemSpec(text=tr("menu.recent", lang), submenu=lambda: recent_items(snapshot().view, post), key="recent"),
        MenuItemSpec(text=tr("menu.test", lang), action=lambda: post(m.TestNotice()), key="test"),
        MenuItemSpec(text=tr("menu.reconnect", lang), action=lambda: post(m.ReconnectNow()), key="reconnect"),
        MenuItemSpec(
            text=tr("menu.open_log", lang), action=lambda: post(m.OpenLogFile()), enabled=has_log, key="open_log"
        ),
    ]
    if context is not None:
        for section in sections:
            try:
                items += list(section(context))
            except Exception:
                log.exception("menu section %s failed", getattr(section, "__module__", section))
    items += [SEPARATOR, MenuItemSpec(text=tr("menu.quit", lang), action=quit_now, key="quit")]
    return items


def recent_items(view: DeskView, post: Callable[[m.Command], None]) -> list[MenuItemSpec]:
    """The "last entries" submenu: a click shows that entry again."""
    if not view.recent:
        return [MenuItemSpec(text=tr("menu.recent_empty", view.lang), enabled=False, key="recent_empty")]
    return [
        MenuItemSpec(text=recent_text(n), action=_replay_action(post, n), key=f"recent_{i}")
        for i, n in enumerate(view.recent)
    ]


def _replay_action(post: Callable[[m.Command], None], notice: Notice) -> Callable[[], None]:
    return lambda: post(m.Replay(notice))
