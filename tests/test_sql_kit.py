"""Database kit against a real server: trigger, payload, size guard, pos_user (issue 2)."""

from __future__ import annotations

import json
import select

import psycopg2

from tests.conftest import Database


def _listen(db: Database, channel: str = "nueva_entrada_canal") -> psycopg2.extensions.connection:
    conn = db.connect_admin()
    with conn.cursor() as cur:
        cur.execute(f'LISTEN "{channel}"')
    return conn


def _drain(conn: psycopg2.extensions.connection, timeout: float = 2.0) -> list[str]:
    select.select([conn], [], [], timeout)
    conn.poll()
    out = [n.payload for n in conn.notifies]
    conn.notifies.clear()
    return out


def test_member_entry_notifies_visitor_does_not(db: Database) -> None:
    listener = _listen(db)
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (1, 'miembro') RETURNING id_entrada"
        )
        (entry_id,) = cur.fetchone()
        cur.execute("INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (NULL, 'visitante')")
    payloads = _drain(listener)
    assert len(payloads) == 1
    body = json.loads(payloads[0])
    assert body["v"] == 1 and body["id_entrada"] == entry_id and body["id_miembro"] == 1
    assert body["miembro"]["nombre"] == "María José"
    assert "documento" not in payloads[0] and "email" not in payloads[0]
