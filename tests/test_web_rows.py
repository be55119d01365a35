"""agent/web/rows.py: one page row per entry, its colour by the legend and always its status text (pure)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from agent.core.model import Entry, Member
from agent.web.rows import RowRules, build_row, repeat_minutes

AT = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
TODAY = AT.date()
RULES = RowRules(lang="en", expiry_warning_days=7, repeat_entry_warning_min=60, tz=dt.UTC)


def make(
    *,
    expires: int | None = 40,
    balance: str = "0",
    birthday: bool = False,
    result: str = "permitido",
    previous_min: float | None = None,
    first_visit: bool = False,
) -> Entry:
    member = Member(
        member_id=5,
        first_name="Ana",
        last_name="Pérez",
        plan="Mensual",
        expires_on=None if expires is None else TODAY + dt.timedelta(days=expires),
        balance_due=Decimal(balance),
        birth_date=TODAY.replace(year=1990) if birthday else TODAY.replace(year=1990, month=1, day=2),
    )
    previous = None if previous_min is None else AT - dt.timedelta(minutes=previous_min)
    return Entry(
        entry_id=9,
        member_id=5,
        occurred_at=AT,
        result=result,
        member=member,
        previous_entry_at=previous,
        first_visit=first_visit,
    )


@pytest.mark.parametrize(
    ("entry", "tone", "text"),
    [
        (make(), "ok", "Current (expires 2027-01-09)"),
        (make(result="denegado"), "bad", "ACCESS DENIED"),
        (make(expires=-3), "bad", "EXPIRED 3 days ago"),
        (make(balance="20.50"), "bad", "BALANCE DUE: 20.50"),
        (make(expires=3), "warn", "Expires in 3 days"),
        (make(previous_min=12), "warn", "Entered 12 min ago"),
        (make(birthday=True), "special", "Birthday today!"),
        (make(first_visit=True), "special", "First visit"),
        (make(expires=-1, first_visit=True), "bad", "First visit"),  # red wins, both facts are written
        (make(expires=3, birthday=True), "warn", "Birthday today!"),
    ],
)
def test_tone_and_text(entry: Entry, tone: str, text: str) -> None:
    row = build_row(entry, RULES)
    assert row["tone"] == tone
    assert text in row["status"]
    assert row["name"] == "Ana Pérez" and row["plan"] == "Mensual" and row["time"] == "10:00"
    assert row["member"] == "5" and row["id"] == 9


def test_repeat_window_bounds() -> None:
    assert repeat_minutes(make(previous_min=60), 60) == 60
    assert repeat_minutes(make(previous_min=61), 60) is None
    assert repeat_minutes(make(previous_min=5), 0) is None  # 0 turns the warning off
    assert repeat_minutes(make(), 60) is None
    assert build_row(make(previous_min=5, result="denegado"), RULES)["status"].count("min ago") == 0


def test_unknown_member_and_spanish() -> None:
    entry = Entry(entry_id=1, member_id=77, occurred_at=AT)
    row = build_row(entry, RowRules(lang="es", tz=dt.UTC))
    assert row["name"] == "Miembro #77" and row["status"] == "Miembro no encontrado" and row["plan"] == ""
    assert row["tone"] == "warn"
    assert build_row(make(previous_min=12), RowRules(lang="es", tz=dt.UTC))["status"].endswith("Entró hace 12 min")
