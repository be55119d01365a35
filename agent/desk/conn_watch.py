"""The connection as the desk sees it: the engine's latest state, the one notice per outage (and one when it is
back), the headless console's lines (one per kind of change, not per retry), and a keyring problem said instead
of a password error. Pure: ``now`` is passed in; owned by :class:`agent.desk.state.DeskState`.
"""

from __future__ import annotations

import dataclasses
import logging

from agent.core.advice import Problem, explain
from agent.core.events import ConnState, StateChanged
from agent.core.i18n import tr
from agent.core.notify_text import Notice, NoticeKind, Sound, Urgency
from agent.desk import messages as m

log = logging.getLogger("agent.desk.state")

OUTAGE_NOTICE_S = 20.0
"""Without a working connection for this many seconds (at start or after a loss), one notice says so; when the
connection is back after that notice, one more says so. Not while paused."""


class ConnWatch:
    """See the module docstring."""

    def __init__(self, lang: str, now: float) -> None:
        self.lang = lang
        self.conn = StateChanged(ConnState.CONNECTING)
        self.conn_at = now
        self._last_said: tuple[ConnState, str] | None = None
        self._down_since: float | None = now
        self._outage_noticed = False

    @property
    def counting_down(self) -> bool:
        """True while not connected or an outage notice may still be due."""
        return self.conn.state is not ConnState.LISTENING or self._down_since is not None

    def changed(self, event: StateChanged, now: float, *, paused: bool, keyring_problem: str) -> list[m.Effect]:
        """A new connection state from the engine."""
        if keyring_problem and event.state in (ConnState.BACKING_OFF, ConnState.AUTH_FAILED) and event.reason:
            password_reasons = {explain(p, self.lang) for p in (Problem.NO_PASSWORD, Problem.AUTH_FAILED)}
            if event.reason in password_reasons:  # the fix is the keyring, not the server
                event = dataclasses.replace(event, reason=keyring_problem)
        self.conn, self.conn_at = event, now
        log.info("connection state: %s %s", event.state.value, event.reason)
        out: list[m.Effect] = []
        key = (event.state, event.reason)
        if event.state is not ConnState.CONNECTING and key != self._last_said:
            self._last_said = key
            detail = event.server if event.state is ConnState.LISTENING else event.reason
            out.append(m.SayLine(f"· {self.state_word()}" + (f" — {detail}" if detail else "")))
        if event.state is ConnState.LISTENING:
            if self._outage_noticed and not paused:
                out.append(m.ShowNotice(self._notice("conn.restored_title", "conn.restored_body", None)))
            self._down_since, self._outage_noticed = None, False
        elif self._down_since is None:
            self._down_since = now
        return out

    def tick(self, now: float, *, paused: bool, keyring_problem: bool) -> list[m.Effect]:
        """The outage notice, once, :data:`OUTAGE_NOTICE_S` after the connection went (not while paused)."""
        down = self._down_since
        if down is None or now - down < OUTAGE_NOTICE_S or self._outage_noticed or paused:
            return []
        self._outage_noticed = True
        warning = self.conn.state is ConnState.AUTH_FAILED or keyring_problem
        return [m.ShowNotice(self._notice("conn.lost_title", "conn.lost_body", warning, reason=self.conn.reason))]

    def state_word(self) -> str:
        """The connection state without its countdown (test notice, console lines)."""
        key = {
            ConnState.LISTENING: "state.listening",
            ConnState.CONNECTING: "state.connecting",
            ConnState.AUTH_FAILED: "state.auth_failed",
            ConnState.STOPPED: "state.stopped",
        }.get(self.conn.state, "state.backing_off_plain")
        return tr(key, self.lang)

    def _notice(self, title_key: str, body_key: str, warning: bool | None, **fields: object) -> Notice:
        """Critical when ``warning``, low when None (good news), else normal."""
        urgency = Urgency.LOW if warning is None else Urgency.CRITICAL if warning else Urgency.NORMAL
        sound = Sound.NONE if warning is None else Sound.WARNING if warning else Sound.DEFAULT
        return Notice(
            title=tr(title_key, self.lang),
            body=tr(body_key, self.lang, **fields).strip(),
            urgency=urgency,
            sound=sound,
            kind=NoticeKind.SUMMARY,
            tag="connection",
        )
