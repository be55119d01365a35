"""Notification text: member status rules, title/body/urgency, both languages. Pure, no server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from agent.core import notify_summary as ns
from agent.core import notify_text as nt
from agent.core.flood import SummaryReason
from agent.core.i18n import MESSAGES
from agent.core.model import Entry, Member
from agent.core.msg_tray import MESSAGES as TRAY_MESSAGES

UTC = dt.UTC
TODAY = dt.date(2026, 11, 30)
AT = dt.datetime(2026, 11, 30, 8, 1, 2, tzinfo=UTC)


def member(**kw: object) -> Member:
    base: dict[str, object] = {
        "member_id": 45,
        "first_name": "María José",
        "last_name": "Peña Núñez",
        "plan": "Mensual",
        "expires_on": TODAY + dt.timedelta(days=40),
        "balance_due": Decimal("0"),
        "birth_date": dt.date(1990, 3, 4),
    }
    base.update(kw)
    return Member(**base)  # type: ignore[arg-type]


def entry(m: Member | None = None, **kw: object) -> Entry:
    base: dict[str, object] = {"entry_id": 123, "member_id": 45, "occurred_at": AT, "member": m or member()}
    base.update(kw)
    return Entry(**base)  # type: ignore[arg-type]


def notice(e: Entry, lang: str = "es") -> nt.Notice:
    n = nt.entry_notice(e, today=TODAY, lang=lang, tz=UTC)
    assert n is not None
    return n


def test_current_member_notice_es() -> None:
    n = notice(entry())
    assert n.title == "María José Peña Núñez"
    assert n.body == "Plan Mensual · Entrada 08:01\nAl día (vence el 09/01/2027)"
    assert n.urgency is nt.Urgency.NORMAL and n.sound is nt.Sound.DEFAULT
    assert (n.kind, n.tag, n.entry_id, n.member_id) == (nt.NoticeKind.ENTRY, "entry-123", 123, 45)


def test_current_member_notice_en() -> None:
    n = notice(entry(), lang="en")
    assert n.body == "Mensual plan · Entry 08:01\nCurrent (expires 2027-01-09)"


@pytest.mark.parametrize(
    ("days", "es", "en"),
    [
        (0, "Vence hoy", "Expires today"),
        (1, "Vence mañana", "Expires tomorrow"),
        (3, "Vence en 3 días", "Expires in 3 days"),
        (7, "Vence en 7 días", "Expires in 7 days"),
    ],
)
def test_expiring(days: int, es: str, en: str) -> None:
    e = entry(member(expires_on=TODAY + dt.timedelta(days=days)))
    assert nt.member_status(e, TODAY).statuses == (nt.Status.EXPIRING,)
    assert notice(e).body.endswith("\n" + es)
    assert notice(e, "en").body.endswith("\n" + en)
    assert notice(e).urgency is nt.Urgency.NORMAL


def test_expiry_warning_days_is_configurable() -> None:
    e = entry(member(expires_on=TODAY + dt.timedelta(days=8)))
    assert nt.member_status(e, TODAY, expiry_warning_days=7).statuses == (nt.Status.CURRENT,)
    assert nt.member_status(e, TODAY, expiry_warning_days=10).statuses == (nt.Status.EXPIRING,)
    assert nt.member_status(e, TODAY, expiry_warning_days=10).days == 8


@pytest.mark.parametrize(("ago", "es"), [(1, "VENCIDA hace 1 día"), (12, "VENCIDA hace 12 días")])
def test_expired_is_a_warning(ago: int, es: str) -> None:
    e = entry(member(expires_on=TODAY - dt.timedelta(days=ago)))
    st = nt.member_status(e, TODAY)
    assert st.statuses == (nt.Status.EXPIRED,) and st.days == ago and st.warning
    n = notice(e)
    assert n.body.endswith("\n" + es)
    assert n.urgency is nt.Urgency.CRITICAL and n.sound is nt.Sound.WARNING


def test_balance_is_a_warning_with_localised_amount() -> None:
    e = entry(member(balance_due=Decimal("1350.5")))
    assert notice(e).body.endswith("Al día (vence el 09/01/2027) · SALDO PENDIENTE: 1.350,50")
    assert notice(e, "en").body.endswith("BALANCE DUE: 1,350.50")
    assert notice(e).urgency is nt.Urgency.CRITICAL


def test_zero_or_negative_balance_is_not_a_warning() -> None:
    for amount in ("0", "-5"):
        assert nt.Status.BALANCE not in nt.member_status(entry(member(balance_due=Decimal(amount))), TODAY).statuses


def test_birthday_today_is_not_a_warning() -> None:
    e = entry(member(birth_date=dt.date(1996, 11, 30)))
    n = notice(e)
    assert n.body.endswith("· ¡Hoy es su cumpleaños!")
    assert n.urgency is nt.Urgency.NORMAL


def test_leap_day_birthday_on_28_february_of_common_years() -> None:
    leap_born = member(birth_date=dt.date(2000, 2, 29))
    assert nt.Status.BIRTHDAY in nt.member_status(entry(leap_born), dt.date(2027, 2, 28)).statuses
    assert nt.Status.BIRTHDAY not in nt.member_status(entry(leap_born), dt.date(2028, 2, 28)).statuses
    assert nt.Status.BIRTHDAY in nt.member_status(entry(leap_born), dt.date(2028, 2, 29)).statuses


def test_denied_comes_first_and_is_critical() -> None:
    e = entry(member(expires_on=TODAY - dt.timedelta(days=2), balance_due=Decimal(10)), result="denegado")
    st = nt.member_status(e, TODAY)
    assert st.statuses == (nt.Status.DENIED, nt.Status.EXPIRED, nt.Status.BALANCE)
    n = notice(e)
    assert n.body.split("\n")[1].startswith("ACCESO DENEGADO por el torniquete · VENCIDA hace 2 días")
    assert n.urgency is nt.Urgency.CRITICAL


@pytest.mark.parametrize("access", ["visitante", "empleado"])
def test_visitor_and_employee_raise_nothing(access: str) -> None:
    assert nt.entry_notice(entry(access_type=access), today=TODAY) is None


def test_unknown_member_and_missing_columns() -> None:
    n = notice(entry(member_id=77, member=None))
    assert n.title == "Miembro #77"
    assert n.body == "Entrada 08:01\nMiembro no encontrado"
    bare = Member(member_id=5, first_name="Ana", last_name="")
    n = notice(entry(bare))
    assert n.title == "Ana"
    assert n.body == "Entrada 08:01\nSin fecha de vencimiento"


def test_today_defaults_to_local_date_of_entry() -> None:
    late = dt.datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    tz = dt.timezone(dt.timedelta(hours=2))  # already 1 December there
    e = entry(member(expires_on=dt.date(2026, 11, 30)), occurred_at=late)
    n = nt.entry_notice(e, tz=tz)
    assert n is not None
    assert "Entrada 01:30" in n.body and "VENCIDA hace 1 día" in n.body


def test_photo_is_carried() -> None:
    assert notice(entry(member(photo_url="C:/fotos/45.jpg"))).photo == "C:/fotos/45.jpg"


def test_flood_summary_lists_names_and_warnings() -> None:
    ok = [notice(entry(member(first_name=f"N{i}", last_name="X"), entry_id=i)) for i in range(8)]
    bad = notice(entry(member(first_name="Late", last_name="Payer", balance_due=Decimal(5)), entry_id=99))
    s = ns.summary_notice(SummaryReason.FLOOD, [*ok, bad], "es", seq=3)
    assert s.title == "9 entradas más"
    lines = s.body.split("\n")
    assert lines[0] == "N0 X, N1 X, N2 X, N3 X, N4 X, N5 X y 3 más"
    assert lines[1] == "1 con aviso: Late Payer"
    assert s.urgency is nt.Urgency.CRITICAL and s.kind is nt.NoticeKind.SUMMARY and s.tag == "summary-flood-3"
    calm = ns.summary_notice(SummaryReason.FLOOD, ok[:1], "en")
    assert (calm.title, calm.body, calm.urgency) == ("1 more entry", "N0 X", nt.Urgency.NORMAL)


def test_pause_and_catchup_summary_titles() -> None:
    one = [notice(entry())]
    assert ns.summary_notice(SummaryReason.PAUSE, [], "es").title == (
        "Avisos reanudados: ninguna entrada durante la pausa"
    )
    assert ns.summary_notice(SummaryReason.PAUSE, one, "es").title == "Avisos reanudados: 1 entrada durante la pausa"
    assert ns.summary_notice(SummaryReason.PAUSE, one, "en", extra=4).title == (
        "Notifications resumed: 5 entries while paused"
    )
    assert ns.summary_notice(SummaryReason.CATCHUP, one * 3, "es").title == "3 entradas mientras no había conexión"


def test_backlog_notice_is_low_urgency() -> None:
    b = ns.backlog_notice(40, AT - dt.timedelta(hours=3), AT, "es", tz=UTC)
    assert b.title == "Entradas anteriores"
    assert b.body == "40 entradas antiguas (05:01 – 08:01) no se muestran una por una"
    assert b.urgency is nt.Urgency.LOW and b.sound is nt.Sound.NONE


def test_every_tray_message_has_both_languages_and_is_registered() -> None:
    for key, texts in TRAY_MESSAGES.items():
        assert set(texts) == {"es", "en"}, key
        assert MESSAGES[key] is texts


@pytest.mark.parametrize("amount", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_balance_is_unknown_not_a_crash(amount: str) -> None:
    """PostgreSQL numeric accepts 'NaN' (and 'Infinity'): ``Decimal('NaN') > 0`` raises InvalidOperation."""
    st = nt.member_status(entry(member(balance_due=Decimal(amount))), TODAY)
    assert st.statuses == (nt.Status.CURRENT,) and st.balance_due is None
    assert notice(entry(member(balance_due=Decimal(amount)))).body == (
        "Plan Mensual · Entrada 08:01\nAl día (vence el 09/01/2027)"
    )


def test_known_amount() -> None:
    assert nt.known_amount(Decimal("12.50")) == Decimal("12.50")
    assert nt.known_amount(3) == Decimal(3)
    assert [nt.known_amount(v) for v in (None, True, "abc", float("nan"), Decimal("NaN"))] == [None] * 5


def test_plain_entry_notice_keeps_name_time_and_denial() -> None:
    n = nt.plain_entry_notice(entry(result="denegado"), lang="es", tz=UTC)
    assert n.title == "María José Peña Núñez"
    assert n.body == "Entrada 08:01\nACCESO DENEGADO por el torniquete · Estado no disponible (ver el registro)"
    assert n.urgency is nt.Urgency.CRITICAL and (n.tag, n.entry_id, n.member_id) == ("entry-123", 123, 45)
    n = nt.plain_entry_notice(entry(member_id=None, member=None), lang="en", tz=UTC)
    assert n.title == "Member #?"
    assert n.body == "Entry 08:01\nStatus unavailable (see the log)" and n.urgency is nt.Urgency.NORMAL


def test_repeat_entry_and_first_visit_texts_both_languages() -> None:
    repeat = entry(previous_entry_at=AT - dt.timedelta(minutes=12, seconds=30))
    n = nt.entry_notice(repeat, today=TODAY, lang="es", tz=UTC, repeat_window_min=60)
    assert (
        n is not None
        and n.status_text.startswith("Entró hace 12 min · Al día")
        and n.warning
        and n.tone is nt.Tone.AMBER
    )
    en = nt.entry_notice(repeat, today=TODAY, lang="en", tz=UTC, repeat_window_min=60)
    assert en is not None and en.status_text.startswith("Entered 12 min ago")
    just = nt.entry_notice(
        entry(previous_entry_at=AT - dt.timedelta(seconds=20)), today=TODAY, tz=UTC, repeat_window_min=60
    )
    assert just is not None and just.status_text.startswith("Entró hace menos de 1 min")
    future = entry(previous_entry_at=AT + dt.timedelta(minutes=1))  # turnstile clocks disagree: ignored
    assert nt.repeat_minutes(future, 60) is None
    first = nt.entry_notice(entry(first_visit=True), today=TODAY, lang="en", tz=UTC)
    assert first is not None and first.body.endswith("First visit") and not first.warning
    assert first.tone is nt.Tone.BLUE


@pytest.mark.parametrize(
    ("kw", "tone"),
    [
        ({}, nt.Tone.GREEN),
        ({"result": "denegado"}, nt.Tone.RED),
        ({"member": member(expires_on=TODAY - dt.timedelta(days=1))}, nt.Tone.RED),
        ({"member": member(balance_due=Decimal("5"))}, nt.Tone.RED),
        ({"member": member(expires_on=TODAY + dt.timedelta(days=2))}, nt.Tone.AMBER),
        ({"member": member(birth_date=dt.date(1990, 11, 30))}, nt.Tone.BLUE),
        ({"first_visit": True, "result": "denegado"}, nt.Tone.RED),
    ],
)
def test_tone_by_status_red_beats_amber_beats_blue(kw: dict[str, object], tone: nt.Tone) -> None:
    n = nt.entry_notice(entry(**kw), today=TODAY, tz=UTC)
    assert n is not None and n.tone is tone and n.status_text == n.body.split("\n")[1]


def test_missed_summary_title() -> None:
    notices = [notice(entry()), notice(entry(result="denegado"))]
    s = ns.summary_notice(SummaryReason.MISSED, notices, "es", seq=1)
    assert s.title == "2 avisos no mostrados mientras fallaban las notificaciones" and s.warning
