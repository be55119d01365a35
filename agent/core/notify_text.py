"""What a notification says: the member's status and the title/body/urgency of each notice. Pure, no I/O.

A member entry becomes one :class:`Notice` (title = the member's name; body = plan, time of entry and status);
a visitor or employee entry becomes none. Several entries become one summary notice (flood control, pause,
catch-up). Which notices are shown, when, is decided by :mod:`agent.core.flood`; how they reach the screen by
the notifier adapters (``agent/adapters/notifier_*.py``).

Status rules (dates are calendar dates; ``today`` is the front desk's local date of the entry):

* **denied** — the turnstile refused the passage (``resultado = 'denegado'``): warning;
* **expired N days ago** — ``expires_on < today``: warning;
* **expiring in N days** — ``0 <= expires_on - today <= expiry_warning_days`` (default 7, settings
  ``notifications.expiry_warning_days``);
* **current** — otherwise, when there is an expiry date;
* **pending balance** — ``balance_due > 0``: warning. A non-finite amount (PostgreSQL ``numeric`` accepts
  ``'NaN'``, and since 14 ``'Infinity'``: PostgreSQL docs 8.1.2 "Arbitrary Precision Numbers") is treated as
  unknown: no balance status (``Decimal('NaN') > 0`` would raise ``InvalidOperation``);
* **birthday today** — same month and day as ``birth_date`` (29 February is celebrated on 28 February in
  common years);
* **repeat entry** — the same member passed (granted) ``0 <= minutes <= repeat_window_min`` before this entry
  (``Entry.previous_entry_at``, filled by the engine; settings ``notifications.repeat_entry_warning_min``, 0 = off):
  "Entró hace 12 min", a warning (a shared card is the usual cause);
* **first visit** — ``Entry.first_visit`` (no earlier entry of this member at all): "Primera visita", a special
  like the birthday.

Each entry notice also carries a :class:`Tone` (the colour the desk, the page and notifiers may use, never alone:
the status text stays): red for denied / expired / balance due, amber for expiring / repeat entry / unknown member,
blue for birthday / first visit, green otherwise.

Warnings get :attr:`Urgency.CRITICAL` and :attr:`Sound.WARNING`; the adapters map those to the platform's
critical urgency (freedesktop Notifications spec "Urgency Levels") and a distinct sound where there is one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from agent.core import names
from agent.core.i18n import tr
from agent.core.model import Entry


class Urgency(StrEnum):
    """How insistent a notice is; values follow the freedesktop spec's names."""

    LOW = "low"
    NORMAL = "normal"
    CRITICAL = "critical"


class Sound(StrEnum):
    """Which sound to play: none, the platform default, or a distinct warning sound."""

    NONE = "none"
    DEFAULT = "default"
    WARNING = "warning"


class NoticeKind(StrEnum):
    """Why a notice exists."""

    ENTRY = "entry"
    """One member entry."""
    REPLAY = "replay"
    """An entry shown again from the tray's "last entries" menu."""
    SUMMARY = "summary"
    """Several entries at once (flood control, resume after a pause, catch-up, backlog)."""
    TEST = "test"
    """The tray's test notification."""


class Status(StrEnum):
    """One fact about a member at the moment of entry; an entry can have several."""

    DENIED = "denied"
    EXPIRED = "expired"
    EXPIRING = "expiring"
    CURRENT = "current"
    NO_EXPIRY = "no_expiry"
    BALANCE = "balance"
    BIRTHDAY = "birthday"
    UNKNOWN_MEMBER = "unknown_member"
    REPEAT = "repeat"
    FIRST_VISIT = "first_visit"


WARNING_STATUSES = frozenset({Status.DENIED, Status.EXPIRED, Status.BALANCE, Status.REPEAT})


class Tone(StrEnum):
    """The colour of a notice (GymMaster's convention): shown beside the status text, never instead of it."""

    GREEN = "green"
    """Granted, nothing to look at."""
    RED = "red"
    """Denied, expired, balance due."""
    AMBER = "amber"
    """Expiring soon, repeat entry, unknown member."""
    BLUE = "blue"
    """Special: birthday, first visit."""
    NEUTRAL = "neutral"
    """Not about one member (summaries, connection, test)."""


_RED = frozenset({Status.DENIED, Status.EXPIRED, Status.BALANCE})
_AMBER = frozenset({Status.EXPIRING, Status.REPEAT, Status.UNKNOWN_MEMBER})
_BLUE = frozenset({Status.BIRTHDAY, Status.FIRST_VISIT})


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """The statuses of one entry, most important first. ``days`` is the day count of EXPIRED (days ago) or
    EXPIRING (days left), else None."""

    statuses: tuple[Status, ...]
    days: int | None = None
    balance_due: Decimal | None = None
    expires_on: dt.date | None = None
    minutes_since: int | None = None
    """Whole minutes since the member's previous granted entry, for REPEAT."""

    @property
    def warning(self) -> bool:
        """True when any status needs the front desk's attention (denied, expired, pending balance, repeat)."""
        return any(s in WARNING_STATUSES for s in self.statuses)

    @property
    def tone(self) -> Tone:
        """Red beats amber beats blue beats green (module docstring)."""
        found = set(self.statuses)
        if found & _RED:
            return Tone.RED
        if found & _AMBER:
            return Tone.AMBER
        if found & _BLUE:
            return Tone.BLUE
        return Tone.GREEN


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification, ready for any notifier.

    ``title`` and ``body`` are plain text (no markup); ``body`` may hold line breaks. ``tag`` identifies the notice
    for platforms that replace notices with the same tag (``entry-<id_entrada>``, ``summary-...``).
    ``member_id``/``photo`` are set for entry notices (click action; ``photo`` is the raw ``foto_url``).
    ``photo_path`` is a resolved local image file (the desk's photo source: a cached thumbnail) that notifiers
    show instead of parsing ``photo``; None when there is none. ``tone`` is the status colour and
    ``status_text`` the status phrases on one line (the tray's recent list, the page).
    """

    title: str
    body: str
    urgency: Urgency = Urgency.NORMAL
    sound: Sound = Sound.DEFAULT
    kind: NoticeKind = NoticeKind.ENTRY
    tag: str = ""
    entry_id: int | None = None
    member_id: int | str | None = None
    photo: str | None = None
    photo_path: Path | None = None
    """The member's photo as an existing local file (resolved by the desk; notifiers never parse ``photo``)."""
    tone: Tone = Tone.NEUTRAL
    status_text: str = ""

    @property
    def warning(self) -> bool:
        """True for critical notices."""
        return self.urgency is Urgency.CRITICAL


def plural(key: str, count: int, lang: str, **fields: object) -> str:
    """``tr(key + ".one")`` when ``count == 1``, else ``tr(key + ".other")``; ``count`` is passed as a field."""
    return tr(f"{key}.{'one' if count == 1 else 'other'}", lang, count=count, **fields)


def _birthday_on(birth: dt.date, today: dt.date) -> bool:
    if (birth.month, birth.day) == (today.month, today.day):
        return True
    # 29 February birthdays are celebrated on 28 February in common years.
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    return (birth.month, birth.day) == (2, 29) and not leap and (today.month, today.day) == (2, 28)


def repeat_minutes(entry: Entry, window_min: int) -> int | None:
    """Whole minutes since the member's previous granted entry when it is within ``window_min`` minutes
    (0 = the check is off), else None. A previous entry dated after this one (turnstile clocks) is ignored."""
    previous = entry.previous_entry_at
    if window_min <= 0 or previous is None:
        return None
    seconds = (entry.occurred_at - previous).total_seconds()
    if not 0 <= seconds <= window_min * 60:
        return None
    return int(seconds // 60)


def member_status(
    entry: Entry, today: dt.date, expiry_warning_days: int = 7, repeat_window_min: int = 0
) -> MemberStatus:
    """The statuses of ``entry`` on ``today`` (the module docstring gives the rules), most important first.
    ``repeat_window_min`` is ``notifications.repeat_entry_warning_min`` (0: no repeat check)."""
    statuses: list[Status] = []
    days: int | None = None
    member = entry.member
    if entry.denied:
        statuses.append(Status.DENIED)
    minutes = repeat_minutes(entry, repeat_window_min)
    if minutes is not None:
        statuses.append(Status.REPEAT)
    if member is None:
        statuses.append(Status.UNKNOWN_MEMBER)
        return MemberStatus(tuple(statuses), minutes_since=minutes)
    if member.expires_on is None:
        statuses.append(Status.NO_EXPIRY)
    else:
        left = (member.expires_on - today).days
        if left < 0:
            statuses.append(Status.EXPIRED)
            days = -left
        elif left <= expiry_warning_days:
            statuses.append(Status.EXPIRING)
            days = left
        else:
            statuses.append(Status.CURRENT)
    balance = known_amount(member.balance_due)
    if balance is not None and balance > 0:
        statuses.append(Status.BALANCE)
    if member.birth_date is not None and _birthday_on(member.birth_date, today):
        statuses.append(Status.BIRTHDAY)
    if entry.first_visit:
        statuses.append(Status.FIRST_VISIT)
    return MemberStatus(
        tuple(statuses), days=days, balance_due=balance, expires_on=member.expires_on, minutes_since=minutes
    )


def known_amount(amount: object) -> Decimal | None:
    """``amount`` as a finite :class:`~decimal.Decimal`, or None when it is missing, NaN, infinite or not a
    number at all (unknown: no status is derived from it)."""
    if amount is None or isinstance(amount, bool):
        return None
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except (ArithmeticError, ValueError):
        return None
    return value if value.is_finite() else None


def format_amount(amount: Decimal, lang: str) -> str:
    """``1350.5`` → ``1.350,50`` (es) / ``1,350.50`` (en). No currency symbol: the gym's currency is not known."""
    text = f"{amount:,.2f}"
    if lang == "es":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def format_date(day: dt.date, lang: str) -> str:
    """``30/12/2026`` (es) or ``2026-12-30`` (en)."""
    return day.strftime("%d/%m/%Y") if lang == "es" else day.isoformat()


def format_time(moment: dt.datetime, tz: dt.tzinfo | None = None) -> str:
    """``HH:MM`` of ``moment`` in ``tz`` (None: the computer's local time zone)."""
    return moment.astimezone(tz).strftime("%H:%M")


def status_texts(status: MemberStatus, lang: str) -> list[str]:
    """One translated phrase per status, in order."""
    out: list[str] = []
    for s in status.statuses:
        if s is Status.DENIED:
            out.append(tr("status.denied", lang))
        elif s is Status.UNKNOWN_MEMBER:
            out.append(tr("status.unknown_member", lang))
        elif s is Status.NO_EXPIRY:
            out.append(tr("status.no_expiry", lang))
        elif s is Status.EXPIRED:
            out.append(plural("status.expired", status.days or 0, lang, days=status.days))
        elif s is Status.EXPIRING:
            if status.days == 0:
                out.append(tr("status.expires_today", lang))
            elif status.days == 1:
                out.append(tr("status.expires_tomorrow", lang))
            else:
                out.append(tr("status.expiring.other", lang, days=status.days))
        elif s is Status.CURRENT:
            assert status.expires_on is not None
            out.append(tr("status.current_until", lang, date=format_date(status.expires_on, lang)))
        elif s is Status.BALANCE:
            out.append(tr("status.balance", lang, amount=format_amount(status.balance_due or Decimal(0), lang)))
        elif s is Status.BIRTHDAY:
            out.append(tr("status.birthday", lang))
        elif s is Status.REPEAT:
            minutes = status.minutes_since or 0
            out.append(tr("status.repeat", lang, minutes=minutes) if minutes else tr("status.repeat_now", lang))
        elif s is Status.FIRST_VISIT:
            out.append(tr("status.first_visit", lang))
    return out


def entry_title(entry: Entry, lang: str) -> str:
    """The member's full name, or "Miembro #45" when the member row is unknown."""
    if entry.member is not None and entry.member.full_name:
        return entry.member.full_name
    return tr("notify.member_fallback", lang, member_id=entry.member_id if entry.member_id is not None else "?")


def entry_notice(
    entry: Entry,
    *,
    today: dt.date | None = None,
    lang: str = "es",
    expiry_warning_days: int = 7,
    tz: dt.tzinfo | None = None,
    kind: NoticeKind = NoticeKind.ENTRY,
    repeat_window_min: int = 0,
    photo_path: Path | None = None,
) -> Notice | None:
    """The notice for one entry, or None for a visitor or employee entry (only members notify).

    ``today`` defaults to the entry's local date in ``tz`` (None: the computer's time zone). Body: line 1 is
    "Plan <plan> · Entrada HH:MM", line 2 the status phrases joined by " · ". ``repeat_window_min``: see
    :func:`member_status`; ``photo_path``: a local thumbnail for notifiers (:attr:`Notice.photo_path`).
    """
    if entry.access_type != names.MEMBER_ACCESS:
        return None
    local = entry.occurred_at.astimezone(tz)
    status = member_status(entry, today or local.date(), expiry_warning_days, repeat_window_min)
    first: list[str] = []
    if entry.member is not None and entry.member.plan:
        first.append(tr("notify.plan", lang, plan=entry.member.plan))
    first.append(tr("notify.time", lang, time=local.strftime("%H:%M")))
    status_line = " · ".join(status_texts(status, lang))
    body = " · ".join(first) + "\n" + status_line
    warning = status.warning
    return Notice(
        title=entry_title(entry, lang),
        body=body,
        urgency=Urgency.CRITICAL if warning else Urgency.NORMAL,
        sound=Sound.WARNING if warning else Sound.DEFAULT,
        kind=kind,
        tag=f"entry-{entry.entry_id}",
        entry_id=entry.entry_id,
        member_id=entry.member_id,
        photo=entry.member.photo_url if entry.member is not None else None,
        photo_path=photo_path,
        tone=status.tone,
        status_text=status_line,
    )


def plain_entry_notice(entry: Entry, *, lang: str = "es", tz: dt.tzinfo | None = None) -> Notice:
    """A minimal notice for an entry whose normal text could not be built (the controller logs why): the name
    (or "Miembro #45"), the time, "ACCESO DENEGADO" when denied, and "status unavailable". Critical when
    denied. Built only from fields that cannot fail to format."""
    try:
        title = entry_title(entry, lang)
    except Exception:
        title = tr("notify.member_fallback", lang, member_id=entry.member_id if entry.member_id is not None else "?")
    try:
        when = tr("notify.time", lang, time=entry.occurred_at.astimezone(tz).strftime("%H:%M"))
    except Exception:
        when = ""
    denied = bool(getattr(entry, "denied", False))
    parts = [tr("status.denied", lang)] if denied else []
    parts.append(tr("notify.status_unavailable", lang))
    return Notice(
        title=title,
        body=(when + "\n" if when else "") + " · ".join(parts),
        tone=Tone.RED if denied else Tone.AMBER,
        status_text=" · ".join(parts),
        urgency=Urgency.CRITICAL if denied else Urgency.NORMAL,
        sound=Sound.WARNING if denied else Sound.DEFAULT,
        kind=NoticeKind.ENTRY,
        tag=f"entry-{entry.entry_id}",
        entry_id=entry.entry_id,
        member_id=entry.member_id,
    )
