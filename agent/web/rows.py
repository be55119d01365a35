"""One row of the "Entradas de hoy" page from one :class:`~agent.core.model.Entry`. Pure: no I/O, clock passed in.

Colour ("tone") by status, the legend of issue 13 item 4, most urgent first:

* ``bad`` (red) — denied by the turnstile, membership expired, balance due;
* ``warn`` (amber) — expiring within ``expiry_warning_days``, member row not found, repeat entry (the member's
  previous granted entry was less than ``repeat_entry_warning_min`` minutes before);
* ``special`` (blue) — birthday today, first visit;
* ``ok`` (green) — anything else.

The row always carries the status *text* too (never colour alone): the phrases of
:func:`agent.core.notify_text.status_texts` plus "Entró hace N min" / "Primera visita".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from agent.core.i18n import tr
from agent.core.model import Entry
from agent.core.notify_text import Status, entry_title, member_status, status_texts

RED = frozenset({Status.DENIED, Status.EXPIRED, Status.BALANCE})
AMBER = frozenset({Status.EXPIRING, Status.UNKNOWN_MEMBER})
BLUE = frozenset({Status.BIRTHDAY})
TONES = ("bad", "warn", "special", "ok")


@dataclass(frozen=True)
class RowRules:
    """The settings a row depends on (``notifications.*``) and the page's language and time zone."""

    lang: str = "es"
    expiry_warning_days: int = 7
    repeat_entry_warning_min: int = 60
    tz: dt.tzinfo | None = None
    """None: the computer's local time zone."""


def repeat_minutes(entry: Entry, window_min: int) -> int | None:
    """Whole minutes since the member's previous granted entry when that is within ``window_min`` (> 0), else
    None."""
    if window_min <= 0 or entry.previous_entry_at is None:
        return None
    seconds = (entry.occurred_at - entry.previous_entry_at).total_seconds()
    if seconds < 0 or seconds > window_min * 60:
        return None
    return int(seconds // 60)


def build_row(entry: Entry, rules: RowRules, *, has_photo: bool = False) -> dict[str, Any]:
    """The JSON object the page script renders. Keys: ``id`` (entry id), ``at`` (ISO 8601), ``time`` (HH:MM local),
    ``name``, ``plan``, ``status`` (text), ``tone`` (one of :data:`TONES`), ``member`` (id as text or None),
    ``photo`` (bool: a thumbnail is served for this member)."""
    local = entry.occurred_at.astimezone(rules.tz)
    status = member_status(entry, local.date(), rules.expiry_warning_days)
    texts = status_texts(status, rules.lang)
    facts = set(status.statuses)
    minutes = repeat_minutes(entry, rules.repeat_entry_warning_min)
    if minutes is not None and not entry.denied:
        texts.append(tr("web.status.repeat", rules.lang, minutes=minutes))
    if entry.first_visit:
        texts.append(tr("web.status.first_visit", rules.lang))
    if facts & RED:
        tone = "bad"
    elif facts & AMBER or (minutes is not None and not entry.denied):
        tone = "warn"
    elif facts & BLUE or entry.first_visit:
        tone = "special"
    else:
        tone = "ok"
    member = entry.member
    return {
        "id": entry.entry_id,
        "at": entry.occurred_at.isoformat(),
        "time": local.strftime("%H:%M"),
        "name": entry_title(entry, rules.lang),
        "plan": (member.plan or "") if member is not None else "",
        "status": " · ".join(texts) or tr("web.tone.ok", rules.lang),
        "tone": tone,
        "member": None if entry.member_id is None else str(entry.member_id),
        "photo": has_photo,
    }
