"""Notices that stand for several entries or none: flood / pause / catch-up / missed summaries, the backlog
notice, the test notice. Pure, no I/O. Single-entry notices are in :mod:`agent.core.notify_text`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from agent.core.flood import SummaryReason
from agent.core.i18n import tr
from agent.core.notify_text import Notice, NoticeKind, Sound, Urgency, plural

MAX_NAMES_IN_SUMMARY = 6
"""A summary lists at most this many names, then "and N more"."""


def _names_line(notices: Sequence[Notice], lang: str) -> str:
    shown = [n.title for n in notices[:MAX_NAMES_IN_SUMMARY]]
    rest = len(notices) - len(shown)
    line = ", ".join(shown)
    if rest > 0:
        line += " " + tr("summary.and_more", lang, count=rest)
    return line


def summary_notice(
    reason: SummaryReason, notices: Sequence[Notice], lang: str = "es", *, extra: int = 0, seq: int = 0
) -> Notice:
    """One notice standing for ``notices`` (entry notices, oldest first).

    Title: "N entradas más" (flood), "Avisos reanudados: N entradas durante la pausa" (pause; also with 0),
    "N entradas mientras no había conexión" (catch-up), "N avisos no mostrados" (missed: the display path
    failed meanwhile, :mod:`agent.desk.display`). Body: up to :data:`MAX_NAMES_IN_SUMMARY` names, then
    a line naming those with warnings. Critical when any of them is. ``extra`` counts entries known only by
    number (the engine's backlog summary). ``seq`` makes the tag unique.
    """
    count = len(notices) + extra
    if reason is SummaryReason.FLOOD:
        title = plural("summary.flood_title", count, lang)
    elif reason is SummaryReason.PAUSE:
        title = plural("summary.pause_title", count, lang) if count else tr("summary.pause_none", lang)
    elif reason is SummaryReason.MISSED:
        title = plural("summary.missed_title", count, lang)
    else:
        title = plural("summary.catchup_title", count, lang)
    lines = [_names_line(notices, lang)] if notices else []
    warnings = [n for n in notices if n.warning]
    if warnings:
        lines.append(plural("summary.warnings", len(warnings), lang) + ": " + _names_line(warnings, lang))
    critical = bool(warnings)
    return Notice(
        title=title,
        body="\n".join(lines),
        urgency=Urgency.CRITICAL if critical else Urgency.NORMAL,
        sound=Sound.WARNING if critical else Sound.DEFAULT,
        kind=NoticeKind.SUMMARY,
        tag=f"summary-{reason.value}-{seq}",
    )


def backlog_notice(
    count: int, oldest: dt.datetime, newest: dt.datetime, lang: str = "es", tz: dt.tzinfo | None = None
) -> Notice:
    """The notice for :class:`agent.core.events.BacklogSummary`: older entries reported once, low urgency."""
    body = plural("summary.backlog", count, lang, oldest=_stamp(oldest, newest, tz), newest=_stamp(newest, oldest, tz))
    return Notice(
        title=tr("summary.backlog_title", lang),
        body=body,
        urgency=Urgency.LOW,
        sound=Sound.NONE,
        kind=NoticeKind.SUMMARY,
        tag=f"backlog-{int(newest.timestamp())}",
    )


def _stamp(moment: dt.datetime, other: dt.datetime, tz: dt.tzinfo | None) -> str:
    local, other_local = moment.astimezone(tz), other.astimezone(tz)
    same_day = local.date() == other_local.date()
    return local.strftime("%H:%M") if same_day else local.strftime("%d/%m %H:%M")


def trial_notice(state_text: str, lang: str = "es") -> Notice:
    """The tray's test notification; ``state_text`` is the connection state line (e.g. "Conectado")."""
    return Notice(
        title=tr("test.title", lang),
        body=tr("test.body", lang, state=state_text).strip(),
        kind=NoticeKind.TEST,
        tag="test",
    )
