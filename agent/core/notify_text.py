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
  common years).

Warnings get :attr:`Urgency.CRITICAL` and :attr:`Sound.WARNING`; the adapters map those to the platform's
critical urgency (freedesktop Notifications spec "Urgency Levels") and a distinct sound where there is one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from agent.core import names
from agent.core.flood import SummaryReason
from agent.core.i18n import tr
from agent.core.model import Entry

MAX_NAMES_IN_SUMMARY = 6
"""A summary lists at most this many names, then "and N more"."""


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


WARNING_STATUSES = frozenset({Status.DENIED, Status.EXPIRED, Status.BALANCE})


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """The statuses of one entry, most important first. ``days`` is the day count of EXPIRED (days ago) or
    EXPIRING (days left), else None."""

    statuses: tuple[Status, ...]
    days: int | None = None
    balance_due: Decimal | None = None
    expires_on: dt.date | None = None

    @property
    def warning(self) -> bool:
        """True when any status needs the front desk's attention (denied, expired, pending balance)."""
        return any(s in WARNING_STATUSES for s in self.statuses)


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification, ready for any notifier.

    ``title`` and ``body`` are plain text (no markup); ``body`` may hold line breaks. ``tag`` identifies the notice
    for platforms that replace notices with the same tag (``entry-<id_entrada>``, ``summary-...``).
    ``member_id``/``photo`` are set for entry notices (click action, toast image).
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


def member_status(entry: Entry, today: dt.date, expiry_warning_days: int = 7) -> MemberStatus:
    """The statuses of ``entry`` on ``today`` (the module docstring gives the rules), most important first."""
    statuses: list[Status] = []
    days: int | None = None
    member = entry.member
    if entry.denied:
        statuses.append(Status.DENIED)
    if member is None:
        statuses.append(Status.UNKNOWN_MEMBER)
        return MemberStatus(tuple(statuses))
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
    return MemberStatus(tuple(statuses), days=days, balance_due=balance, expires_on=member.expires_on)


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
) -> Notice | None:
    """The notice for one entry, or None for a visitor or employee entry (only members notify).

    ``today`` defaults to the entry's local date in ``tz`` (None: the computer's time zone). Body: line 1 is
    "Plan <plan> · Entrada HH:MM", line 2 the status phrases joined by " · ".
    """
    if entry.access_type != names.MEMBER_ACCESS:
        return None
    local = entry.occurred_at.astimezone(tz)
    status = member_status(entry, today or local.date(), expiry_warning_days)
    first: list[str] = []
    if entry.member is not None and entry.member.plan:
        first.append(tr("notify.plan", lang, plan=entry.member.plan))
    first.append(tr("notify.time", lang, time=local.strftime("%H:%M")))
    body = " · ".join(first) + "\n" + " · ".join(status_texts(status, lang))
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
        urgency=Urgency.CRITICAL if denied else Urgency.NORMAL,
        sound=Sound.WARNING if denied else Sound.DEFAULT,
        kind=NoticeKind.ENTRY,
        tag=f"entry-{entry.entry_id}",
        entry_id=entry.entry_id,
        member_id=entry.member_id,
    )


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
    "N entradas mientras no había conexión" (catch-up). Body: up to :data:`MAX_NAMES_IN_SUMMARY` names, then
    a line naming those with warnings. Critical when any of them is. ``extra`` counts entries known only by
    number (the engine's backlog summary). ``seq`` makes the tag unique.
    """
    count = len(notices) + extra
    if reason is SummaryReason.FLOOD:
        title = plural("summary.flood_title", count, lang)
    elif reason is SummaryReason.PAUSE:
        title = plural("summary.pause_title", count, lang) if count else tr("summary.pause_none", lang)
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
