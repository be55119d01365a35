"""Sample members for the demo and the tests: every status the front desk must tell apart.

Dates are relative to ``today`` so the statuses hold on any day: one expired, one expiring in 3 days, one with a
pending balance, one with a birthday today, one with a 20 KB staff note (its payload exceeds NOTIFY's 8000-byte
limit), and some plain current members. Names carry accents and ñ on purpose.

Photos: every member but ``current3`` (the "no photo" case) has an avatar served by the demo's photo server
(:class:`agent.photos.demo_server.DemoPhotoServer`, whose port is known only at run time). :func:`load` leaves
``foto_url`` empty unless given ``photo_base_url``; :func:`set_photo_urls` fills it in afterwards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg2.extensions import cursor as Cursor


@dataclass(frozen=True)
class DemoMember:
    """One sample member; ``key`` names it in tests (``expired``, ``expiring``, ``balance``, ...)."""

    key: str
    first_name: str
    last_name: str
    plan: str
    expires_in_days: int
    balance_due: str = "0"
    birthday_today: bool = False
    notes: str | None = None
    has_photo: bool = True
    """Served by the demo photo server at ``<base_url>/<key>.jpg`` (see :func:`photo_url`)."""


BIG_NOTE = ("Nota del personal: revisar ficha médica antes de clases de alta intensidad. " * 300)[:20_000]

MEMBERS: tuple[DemoMember, ...] = (
    DemoMember("current", "María José", "Peña Núñez", "Mensual", 40),
    DemoMember("expired", "José Ángel", "Muñoz Ibáñez", "Trimestral", -12),
    DemoMember("expiring", "Sofía", "Castaño Ruíz", "Mensual", 3),
    DemoMember("balance", "Íñigo", "Zúñiga Peñalver", "Anual", 200, balance_due="350.00"),
    DemoMember("birthday", "Begoña", "Ordóñez", "Mensual", 25, birthday_today=True),
    DemoMember("big_note", "Nicolás", "Cañete Señorán", "Anual", 150, notes=BIG_NOTE),
    DemoMember("current2", "Lucía", "Fernández Guzmán", "Mensual", 18),
    DemoMember("current3", "Ramón", "Gómez Valdés", "Trimestral", 70, has_photo=False),
)


def photo_url(base_url: str, member: DemoMember) -> str | None:
    """``member``'s photo URL under ``base_url`` (e.g. ``http://127.0.0.1:40123/fotos``), None if it has none."""
    return f"{base_url.rstrip('/')}/{member.key}.jpg" if member.has_photo else None


def photo_people() -> dict[str, str]:
    """``key -> full name`` of the members with a photo: what the demo photo server draws avatars for."""
    return {m.key: f"{m.first_name} {m.last_name}" for m in MEMBERS if m.has_photo}


def set_photo_urls(cur: Cursor, base_url: str) -> int:
    """Point the demo members' ``foto_url`` at ``base_url`` (rows matched by first and last name); returns how
    many rows changed. Runs in the caller's transaction (commit it). Raises ``psycopg2.Error``."""
    changed = 0
    for m in MEMBERS:
        url = photo_url(base_url, m)
        if url is None:
            continue
        cur.execute(
            "UPDATE miembros SET foto_url = %s WHERE nombre = %s AND apellido = %s", (url, m.first_name, m.last_name)
        )
        changed += cur.rowcount
    return changed


def load(cur: Cursor, today: dt.date, photo_base_url: str | None = None) -> int:
    """Insert :data:`MEMBERS` into ``miembros`` when it is empty; returns how many were inserted (0 if not empty).
    ``photo_base_url``: where the demo photo server serves (``foto_url`` stays NULL without it).

    Runs in the caller's transaction. Raises ``psycopg2.Error``.
    """
    cur.execute("SELECT count(*) FROM miembros")
    row = cur.fetchone()
    if row and row[0]:
        return 0
    for number, m in enumerate(MEMBERS, start=1):
        try:
            birth = today.replace(year=today.year - 30)
        except ValueError:  # 29 February
            birth = today.replace(year=today.year - 30, day=28)
        if not m.birthday_today:
            birth = birth - dt.timedelta(days=100)
        cur.execute(
            "INSERT INTO miembros (nombre, apellido, plan, fecha_inicio, fecha_vencimiento, foto_url,"
            " saldo_pendiente, fecha_nacimiento, notas, documento, telefono, email)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                m.first_name,
                m.last_name,
                m.plan,
                today - dt.timedelta(days=30),
                today + dt.timedelta(days=m.expires_in_days),
                photo_url(photo_base_url, m) if photo_base_url else None,
                m.balance_due,
                birth,
                m.notes,
                f"DNI-{number:08d}",
                "+34 600 000 000",
                f"{m.key}@example.invalid",
            ),
        )
    return len(MEMBERS)
