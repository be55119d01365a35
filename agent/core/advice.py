"""Connection failures as a short sentence people understand, with the fix. Pure: works on the SQLSTATE and the
message text of an error, never on a live connection.

Used by the listener engine (tray tooltip, log, ``listen`` stderr) and by ``doctor``.
"""

from __future__ import annotations

from enum import StrEnum


class Problem(StrEnum):
    """What kind of failure a connection attempt or a live connection hit."""

    AUTH_FAILED = "auth_failed"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNKNOWN_HOST = "unknown_host"
    NO_DATABASE = "no_database"
    CONNECTION_LOST = "connection_lost"
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"
    SCHEMA = "schema"
    OTHER = "other"


# SQLSTATE classes (PostgreSQL docs, Appendix A "PostgreSQL Error Codes").
_SQLSTATE = {
    "28P01": Problem.AUTH_FAILED,  # invalid_password
    "28000": Problem.AUTH_FAILED,  # invalid_authorization_specification
    "3D000": Problem.NO_DATABASE,  # invalid_catalog_name
    "57P01": Problem.CONNECTION_LOST,  # admin_shutdown (pg_terminate_backend, server stop)
    "57P02": Problem.CONNECTION_LOST,  # crash_shutdown
    "57P03": Problem.CONNECTION_LOST,  # cannot_connect_now (starting up / shutting down)
    "42P01": Problem.SCHEMA,  # undefined_table
    "42703": Problem.SCHEMA,  # undefined_column
    "42501": Problem.SCHEMA,  # insufficient_privilege
}

# libpq's own (client-side, English) texts, and the server's English texts when no SQLSTATE reached us
# (psycopg2 gives no SQLSTATE for errors raised while connecting).
_PATTERNS: tuple[tuple[str, Problem], ...] = (
    ("password authentication failed", Problem.AUTH_FAILED),
    ("no password supplied", Problem.AUTH_FAILED),
    ("authentication failed", Problem.AUTH_FAILED),
    ("no pg_hba.conf entry", Problem.AUTH_FAILED),
    ("connection refused", Problem.REFUSED),
    ("timeout expired", Problem.TIMEOUT),
    ("timed out", Problem.TIMEOUT),
    ("could not translate host name", Problem.UNKNOWN_HOST),
    ("name or service not known", Problem.UNKNOWN_HOST),
    ("does not exist", Problem.NO_DATABASE),
    ("server closed the connection", Problem.CONNECTION_LOST),
    ("terminating connection", Problem.CONNECTION_LOST),
    ("connection already closed", Problem.CONNECTION_LOST),
    ("ssl syscall error", Problem.CONNECTION_LOST),
    ("could not receive data", Problem.CONNECTION_LOST),
    ("could not send data", Problem.CONNECTION_LOST),
)


def classify(sqlstate: str | None, message: str) -> Problem:
    """The :class:`Problem` for an error with ``sqlstate`` (None when unknown) and ``message`` (any language)."""
    if sqlstate and sqlstate in _SQLSTATE:
        return _SQLSTATE[sqlstate]
    low = message.lower()
    for needle, problem in _PATTERNS:
        if needle in low:
            return problem
    return Problem.OTHER
