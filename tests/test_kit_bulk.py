"""A bulk import through the turnstile's table (adversarial review of issue 12, on a real server).

A vendor's migration or a history import inserts many member rows in one transaction. Each fired our trigger, and
while ``pg_notify`` ran inside the trigger's exception block every notification kept that subtransaction's memory
context (8 kB at least) until the end of the transaction: measured, 100,000 rows held 782 MB of the backend's
memory and 300,000 held 2.4 GB (``pg_backend_memory_contexts``); a million would exhaust the turnstile's PC and
fail the import. Now ``pg_notify`` runs outside the block: 100,000 rows hold 63 MB.
"""

from __future__ import annotations

from tests.conftest import Database
from tests.test_sql_kit import (
    drain,
    listen,
    pos_user_left_as_found,  # noqa: F401  (autouse fixture)
)

ROWS = 20_000


def test_a_bulk_insert_of_member_rows_keeps_the_backends_memory_small(db: Database) -> None:
    listener = listen(db.admin_dsn())
    conn = db.connect_admin(autocommit=False)
    with conn.cursor() as cur:
        cur.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
        before = int(cur.fetchone()[0])
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso)"
            " SELECT (SELECT min(id_miembro) FROM miembros), 'miembro' FROM generate_series(1, %s)",
            (ROWS,),
        )
        cur.execute("SELECT sum(total_bytes), count(*) FROM pg_backend_memory_contexts")
        after, contexts = cur.fetchone()
    conn.commit()
    conn.close()
    grown_mb = (int(after) - before) / 2**20
    assert grown_mb < 40, (grown_mb, contexts)  # before: 156 MB for these 20,000 rows, one context per row
    assert contexts < 1_000, contexts
    assert len(drain(listener, expect=ROWS, timeout=30)) == ROWS  # every one still notified
    listener.close()


def test_a_hand_made_trigger_with_an_impossible_channel_still_lets_the_insert_through(db: Database) -> None:
    """``pg_notify`` now runs outside the exception block, so the channel is checked before it: a trigger made by
    hand with an empty or over-long channel logs a WARNING and the INSERT goes on."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        for channel in ("", "c" * 64):
            cur.execute("DROP TRIGGER aviso_nueva_entrada ON registro_entradas")
            cur.execute(
                "CREATE TRIGGER aviso_nueva_entrada AFTER INSERT ON registro_entradas FOR EACH ROW"
                " EXECUTE FUNCTION aviso_notificar_entrada(%s)",
                (channel,),
            )
            cur.execute(
                "INSERT INTO registro_entradas (id_miembro, tipo_acceso)"
                " VALUES ((SELECT min(id_miembro) FROM miembros), 'miembro') RETURNING id_entrada"
            )
            assert cur.fetchone() is not None
            assert any("channel name empty or too long" in n for n in conn.notices), conn.notices
