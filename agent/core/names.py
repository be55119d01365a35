"""The one place where the turnstile's Spanish SQL names meet the agent's English identifiers.

Source of the names: the turnstile schema of the project's design, in ``sql/schema.sql``. Everything else in the
agent refers to these constants, never to a literal Spanish column name.

Columns are split into *required* ones (the agent refuses to start without them; docs/turnstile-kit.md) and
*optional* display columns (used when present and readable by the connecting role, read as NULL otherwise).
Every name maps to the English attribute of :class:`agent.core.model.Entry` or :class:`agent.core.model.Member`.
"""

from __future__ import annotations

DEFAULT_CHANNEL = "nueva_entrada_canal"
"""The NOTIFY channel of the seed. Case-sensitive: the agent always quotes it as an identifier in LISTEN."""

ENTRIES_TABLE = "registro_entradas"
MEMBERS_TABLE = "miembros"
ROLE = "pos_user"
TRIGGER_NAME = "aviso_nueva_entrada"
TRIGGER_FUNCTION = "aviso_notificar_entrada"
TRIGGER_VERSION_COMMENT = "aviso-entradas trigger, payload v1"

MEMBER_ACCESS = "miembro"
"""``tipo_acceso`` value of a member's entry; the only kind that notifies."""
ACCESS_TYPES = ("miembro", "visitante", "empleado")
RESULT_GRANTED = "permitido"
RESULT_DENIED = "denegado"

# SQL column -> Entry attribute.
ENTRY_COLUMNS: dict[str, str] = {
    "id_entrada": "entry_id",
    "id_miembro": "member_id",
    "tipo_acceso": "access_type",
    "fecha_hora": "occurred_at",
    "torniquete": "turnstile",
    "resultado": "result",
}
ENTRY_REQUIRED = ("id_entrada", "id_miembro", "tipo_acceso", "fecha_hora")

# SQL column -> Member attribute.
MEMBER_COLUMNS: dict[str, str] = {
    "id_miembro": "member_id",
    "nombre": "first_name",
    "apellido": "last_name",
    "plan": "plan",
    "fecha_vencimiento": "expires_on",
    "saldo_pendiente": "balance_due",
    "fecha_nacimiento": "birth_date",
    "foto_url": "photo_url",
    "notas": "notes",
}
MEMBER_REQUIRED = ("id_miembro", "nombre", "apellido")

SENSITIVE_MEMBER_COLUMNS = ("documento", "telefono", "email")
"""Never in a payload, never granted to ``pos_user``, never read by the agent."""
