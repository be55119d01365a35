"""Connection failures as a short sentence people understand, with the fix. Pure: works on the SQLSTATE and the
message text of an error, never on a live connection.

Used by the listener engine (tray tooltip, log, ``listen`` stderr) and by ``doctor``.

Where the texts come from:

* libpq's own messages (``could not translate host name``, ``timeout expired``, ``server does not support SSL``...)
  are English: the ``psycopg2-binary`` wheels ship libpq without message catalogs.
* The operating system's socket errors inside libpq's messages come from ``strerror()`` (glibc, translated by the
  PC's locale: ``Conexión rehusada``) or, on Windows, ``FormatMessage`` (translated by the Windows language:
  ``No se puede establecer una conexión ya que el equipo de destino denegó expresamente dicha conexión``).
* The server's ``FATAL`` messages during the start-up (authentication, unknown database) are in the server's
  ``lc_messages`` language (PostgreSQL docs, "Locale Support"), and psycopg2 gives no SQLSTATE for errors raised
  while connecting. Before the client encoding is agreed the server sends them in the encoding of its locale
  (e.g. ``es_ES`` = ISO-8859-1), so accented letters may arrive as mojibake or U+FFFD. The patterns below therefore
  match every non-ASCII letter loosely (one to three arbitrary characters), and the translations are those of the
  PostgreSQL message catalogs (``postgres-15.mo`` for es, de, fr, it; the few pt_BR ones are not verified against
  a catalog) and glibc's (``libc.mo``, es/pt/fr/it/de); ``tests/test_advice.py`` checks them against the catalogs
  installed on the machine.
"""

from __future__ import annotations

import re
from enum import StrEnum

from agent.core.i18n import tr


class Problem(StrEnum):
    """What kind of failure a connection attempt or a live connection hit."""

    AUTH_FAILED = "auth_failed"
    """The server rejected the user or password (or pg_hba.conf has no line for this PC)."""
    NO_PASSWORD = "no_password"  # noqa: S105 (a Problem name, not a password)
    """The server asks for a password and the agent has none to send (libpq: ``fe_sendauth: no password
    supplied``): nothing stored in the keyring for this server, and no ``PGPASSWORD``/pgpass. The server rejected
    nothing, so it is retried with the normal backoff, not as :attr:`AUTH_FAILED`."""
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNKNOWN_HOST = "unknown_host"
    NO_DATABASE = "no_database"
    CONNECTION_LOST = "connection_lost"
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"
    SCHEMA = "schema"
    OTHER = "other"
    TLS = "tls"
    """TLS negotiation or certificate verification failed (``sslmode`` / ``sslrootcert`` / server ``ssl``)."""
    READ_ONLY = "read_only"
    """The server is a hot standby (read replica) or in recovery: ``LISTEN`` cannot run there."""
    TOO_MANY_CONNECTIONS = "too_many_connections"
    POOLER = "pooler"
    """A connection pooler (PgBouncer) is in between and refuses something the agent needs."""
    DRIVER_MISSING = "driver_missing"
    """psycopg2 cannot be imported (``doctor`` only)."""
    SESSION_TIMEOUT = "session_timeout"
    """The server ended the session for being idle (``idle_session_timeout``, SQLSTATE 57P05, PostgreSQL 14+;
    or ``idle_in_transaction_session_timeout``, 25P03) although the agent sets its own limits at connect."""
    STATEMENT_TIMEOUT = "statement_timeout"
    """The server cancelled a query of the agent (``statement_timeout`` or ``pg_cancel_backend``: SQLSTATE
    57014 query_canceled)."""


# SQLSTATEs (PostgreSQL docs, Appendix A "PostgreSQL Error Codes").
_SQLSTATE = {
    "28P01": Problem.AUTH_FAILED,  # invalid_password
    "28000": Problem.AUTH_FAILED,  # invalid_authorization_specification
    "3D000": Problem.NO_DATABASE,  # invalid_catalog_name
    "57P01": Problem.CONNECTION_LOST,  # admin_shutdown (pg_terminate_backend, server stop)
    "57P02": Problem.CONNECTION_LOST,  # crash_shutdown
    "57P03": Problem.CONNECTION_LOST,  # cannot_connect_now (starting up / shutting down)
    "57P05": Problem.SESSION_TIMEOUT,  # idle_session_timeout (PostgreSQL 14+)
    "25P03": Problem.SESSION_TIMEOUT,  # idle_in_transaction_session_timeout
    "57014": Problem.STATEMENT_TIMEOUT,  # query_canceled (statement_timeout, pg_cancel_backend)
    "42P01": Problem.SCHEMA,  # undefined_table
    "42703": Problem.SCHEMA,  # undefined_column
    "42501": Problem.SCHEMA,  # insufficient_privilege
    "25006": Problem.READ_ONLY,  # read_only_sql_transaction ("cannot execute LISTEN during recovery")
    "53300": Problem.TOO_MANY_CONNECTIONS,  # too_many_connections
    "08P01": Problem.POOLER,  # protocol_violation (PgBouncer: "unsupported startup parameter")
}

# (pattern, problem), first match wins, on the lower-cased message. Non-ASCII letters match loosely (see the module
# docstring). Order matters: "role ... does not exist" before "database ... does not exist".
_PATTERN_SOURCES: tuple[tuple[str, Problem], ...] = (
    # --- authentication (server FATAL texts, several languages; pg_hba.conf; PgBouncer) ---
    (r"no password supplied", Problem.NO_PASSWORD),  # libpq fe-auth.c (client side, always English)
    (r"password authentication failed", Problem.AUTH_FAILED),
    (r"authentication failed", Problem.AUTH_FAILED),
    (r"no pg_hba\.conf entry", Problem.AUTH_FAILED),
    (r"pg_hba\.conf (rejects|rechaza|lehnt|rejette|rifiuta|rejeita)", Problem.AUTH_FAILED),
    (r"role .+? does not exist", Problem.AUTH_FAILED),
    (r"is not permitted to log in", Problem.AUTH_FAILED),
    (r"autentificación \w+ falló", Problem.AUTH_FAILED),  # es
    (r"autentificación falló", Problem.AUTH_FAILED),  # es
    (r"no hay una línea en pg_hba\.conf", Problem.AUTH_FAILED),  # es
    (r"no existe el rol", Problem.AUTH_FAILED),  # es
    (r"al rol .* no se le permite conectarse", Problem.AUTH_FAILED),  # es
    (r"autenticação do tipo \w+ falhou", Problem.AUTH_FAILED),  # pt_BR
    (r"nenhuma entrada no pg_hba\.conf", Problem.AUTH_FAILED),  # pt_BR
    (r"authentifizierung für benutzer", Problem.AUTH_FAILED),  # de
    (r"kein pg_hba\.conf-eintrag", Problem.AUTH_FAILED),  # de
    (r"rolle .+? existiert nicht", Problem.AUTH_FAILED),  # de
    (r"authentification .*échouée", Problem.AUTH_FAILED),  # fr
    (r"aucune entrée dans pg_hba\.conf", Problem.AUTH_FAILED),  # fr
    (r"le rôle .+? n'existe pas", Problem.AUTH_FAILED),  # fr
    (r"autenticazione .*fallita", Problem.AUTH_FAILED),  # it
    (r"nessuna voce in pg_hba\.conf", Problem.AUTH_FAILED),  # it
    (r"il ruolo .+? non esiste", Problem.AUTH_FAILED),  # it
    (r"hat keine berechtigung zum einloggen", Problem.AUTH_FAILED),  # de
    (r"n'est pas autorisé à se connecter", Problem.AUTH_FAILED),  # fr
    (r"non è consentito effettuare il login", Problem.AUTH_FAILED),  # it
    (r"no such user", Problem.AUTH_FAILED),  # PgBouncer
    # --- TLS (libpq's English texts) ---
    (r"server does not support ssl", Problem.TLS),
    (r"certificate verify failed", Problem.TLS),
    (r"does not match host name", Problem.TLS),
    (r"root certificate file .* does not exist", Problem.TLS),
    (r"could not read root certificate", Problem.TLS),
    (r"ssl error", Problem.TLS),
    (r"ssl negotiation", Problem.TLS),
    (r"sslmode value .* invalid", Problem.TLS),
    # --- database / schema ---
    (r"database .+? does not exist", Problem.NO_DATABASE),
    (r"no such database", Problem.NO_DATABASE),  # PgBouncer
    (r"no existe la base de datos", Problem.NO_DATABASE),  # es
    (r"banco de dados .+? não existe", Problem.NO_DATABASE),  # pt_BR
    (r"datenbank .+? existiert nicht", Problem.NO_DATABASE),  # de
    (r"la base de données .+? n'existe pas", Problem.NO_DATABASE),  # fr
    (r"il database .+? non esiste", Problem.NO_DATABASE),  # it
    (r"(relation|column) .+? does not exist", Problem.SCHEMA),
    (r"no existe la (relación|columna)", Problem.SCHEMA),  # es
    (r"(relation|spalte) .+? existiert nicht", Problem.SCHEMA),  # de
    (r"la (relation|colonne) .+? n'existe pas", Problem.SCHEMA),  # fr
    (r"la (relazione|colonna) .+? non esiste", Problem.SCHEMA),  # it
    (r"permission denied", Problem.SCHEMA),
    (r"permiso denegado", Problem.SCHEMA),  # es
    (r"does not have connect privilege", Problem.SCHEMA),
    # --- replicas / recovery ---
    (r"during recovery", Problem.READ_ONLY),
    (r"hot standby", Problem.READ_ONLY),
    (r"durante la recuperación", Problem.READ_ONLY),  # es
    (r"während der wiederherstellung", Problem.READ_ONLY),  # de
    (r"lors de la restauration", Problem.READ_ONLY),  # fr
    (r"durante il recupero", Problem.READ_ONLY),  # it
    (r"read-only transaction", Problem.READ_ONLY),
    # --- capacity ---
    (r"too many (clients|connections)", Problem.TOO_MANY_CONNECTIONS),
    (r"connection slots are reserved", Problem.TOO_MANY_CONNECTIONS),
    (r"demasiad[oa]s (clientes|conexiones)", Problem.TOO_MANY_CONNECTIONS),  # es
    (r"las conexiones restantes están reservadas", Problem.TOO_MANY_CONNECTIONS),  # es
    (r"zu viele verbindungen", Problem.TOO_MANY_CONNECTIONS),  # de
    (r"trop de clients|trop de connexions", Problem.TOO_MANY_CONNECTIONS),  # fr
    (r"troppi client|troppe connessioni", Problem.TOO_MANY_CONNECTIONS),  # it
    (r"no more connections allowed", Problem.TOO_MANY_CONNECTIONS),  # PgBouncer max_client_conn
    # --- pooler ---
    (r"unsupported startup parameter", Problem.POOLER),  # PgBouncer
    (r"pgbouncer", Problem.POOLER),
    # --- network (libpq, glibc strerror in es/pt/fr/it/de from libc.mo, Windows FormatMessage) ---
    (r"connection refused", Problem.REFUSED),
    (r"actively refused", Problem.REFUSED),  # Windows, en
    (r"conexión rehusada", Problem.REFUSED),  # glibc es
    (r"(conexão|ligação) recusada", Problem.REFUSED),  # glibc pt_BR, pt
    (r"connexion refusée", Problem.REFUSED),  # glibc fr
    (r"connessione rifiutata", Problem.REFUSED),  # glibc it
    (r"verbindungsaufbau abgelehnt", Problem.REFUSED),  # glibc de
    (r"denegó expresamente", Problem.REFUSED),  # Windows es
    (r"timeout expired", Problem.TIMEOUT),
    (r"timed out", Problem.TIMEOUT),
    (r"did not properly respond after a period of time", Problem.TIMEOUT),  # Windows en
    (r"no respondió adecuadamente tras un periodo de tiempo", Problem.TIMEOUT),  # Windows es
    (r"no route to host|network is unreachable", Problem.TIMEOUT),
    (r"expiró el tiempo de conexión|no existe ninguna ruta hasta el|la red es inaccesible", Problem.TIMEOUT),  # es
    (
        r"tempo esgotado para conexão|ligação expirada|não há rota para o host|sem caminho para o anfitrião",
        Problem.TIMEOUT,
    ),
    (r"a rede está fora de alcance|rede inacessível", Problem.TIMEOUT),  # pt
    (r"expiration du délai d'attente|aucun chemin d'accès|le réseau n'est pas accessible", Problem.TIMEOUT),  # fr
    (r"connessione scaduta|nessun instradamento|la rete non è raggiungibile", Problem.TIMEOUT),  # it
    (r"wartezeit für die verbindung ist abgelaufen|keine route zum|netzwerk ist nicht erreichbar", Problem.TIMEOUT),
    (r"could not translate host name", Problem.UNKNOWN_HOST),
    (r"name or service not known|temporary failure in name resolution", Problem.UNKNOWN_HOST),
    (r"no such host is known", Problem.UNKNOWN_HOST),  # Windows en
    (r"nombre o servicio desconocido|fallo temporal en la resolución", Problem.UNKNOWN_HOST),  # glibc es
    (r"nome ou serviço desconhecido|na resolução de nome", Problem.UNKNOWN_HOST),  # glibc pt
    (r"nom ou service inconnu|dans la résolution du nom", Problem.UNKNOWN_HOST),  # glibc fr
    (r"nome o servizio sconosciuto|nella risoluzione del nome", Problem.UNKNOWN_HOST),  # glibc it
    (r"der dienst ist nicht bekannt|fehler bei der namensauflösung", Problem.UNKNOWN_HOST),  # glibc de
    (r"host desconocido|no se conoce ese host", Problem.UNKNOWN_HOST),  # Windows es
    # --- server limits (the FATAL text of an ended session arrives without SQLSTATE: as a notice) ---
    (r"idle-session timeout|idle-in-transaction timeout", Problem.SESSION_TIMEOUT),
    (r"statement timeout", Problem.STATEMENT_TIMEOUT),
    (r"(sesiones|transacciones) abiertas inactivas", Problem.SESSION_TIMEOUT),  # es (postgres-15.mo)
    (r"tiempo de espera de sentencias", Problem.STATEMENT_TIMEOUT),  # es
    # --- lost connections ---
    (r"server closed the connection", Problem.CONNECTION_LOST),
    (r"terminating connection", Problem.CONNECTION_LOST),
    (r"terminando la conexión", Problem.CONNECTION_LOST),  # es
    (r"connection already closed", Problem.CONNECTION_LOST),
    (r"ssl syscall error", Problem.CONNECTION_LOST),
    (r"could not receive data", Problem.CONNECTION_LOST),
    (r"could not send data", Problem.CONNECTION_LOST),
    (r"the database system is (starting up|shutting down|in recovery mode)", Problem.CONNECTION_LOST),
    (r"el sistema de base de datos está (inici|apag|en modo de recuperaci)", Problem.CONNECTION_LOST),  # es
    (
        r"verbindung wird abgebrochen|das datenbanksystem (startet|fährt herunter|ist im wiederh)",
        Problem.CONNECTION_LOST,
    ),
    (
        r"arrêt des connexions|le système de bases? de données (se lance|s'arrête|est en cours de restauration)",
        Problem.CONNECTION_LOST,
    ),
    (
        r"interruzione della connessione|il database (si sta avviando|si sta spegnendo|è in modalità di ripristino)",
        Problem.CONNECTION_LOST,
    ),
)


def _loose(pattern: str) -> str:
    """``pattern`` with every non-ASCII character replaced by ``.{1,3}`` (mojibake / U+FFFD tolerant)."""
    return "".join(".{1,3}" if ord(ch) > 127 else ch for ch in pattern)


_PATTERNS: tuple[tuple[re.Pattern[str], Problem], ...] = tuple(
    (re.compile(_loose(src)), problem) for src, problem in _PATTERN_SOURCES
)


def _normalize(message: str) -> str:
    """Lower-cased, without the catalogs' double quote marks (``"x"``, ``«x»``, ``« x »``), whitespace collapsed."""
    low = re.sub(r"[\"«»“”„]", "", message.lower())
    return " ".join(low.split())


def classify(sqlstate: str | None, message: str) -> Problem:
    """The :class:`Problem` for an error with ``sqlstate`` (None when unknown) and ``message`` (any language).

    ``message`` may hold mojibake (a Latin-1 server message decoded as UTF-8 or the reverse). Pure; any thread.
    """
    if sqlstate and sqlstate in _SQLSTATE:
        return _SQLSTATE[sqlstate]
    low = _normalize(message)
    for pattern, problem in _PATTERNS:
        if pattern.search(low):
            return problem
    return Problem.OTHER


DEFAULT_PORT = 5432
"""libpq's default port (PostgreSQL docs, libpq "Parameter Key Words": ``port``): named by the advice for refused
and timed-out connections when the caller does not give the configured port."""


def explain(problem: Problem, lang: str = "es", *, port: int | None = None) -> str:
    """One short sentence in ``lang`` saying what ``problem`` means and what to do about it. ``port``: the TCP
    port the connection used (the firewall advice names it; None: :data:`DEFAULT_PORT`). Pure; any thread."""
    return tr(f"advice.{problem.value}", lang, port=port or DEFAULT_PORT)


def advise(sqlstate: str | None, message: str, lang: str = "es") -> tuple[Problem, str]:
    """``classify`` then ``explain``: the problem and the sentence for people. Pure; any thread."""
    problem = classify(sqlstate, message)
    return problem, explain(problem, lang)


def decode_server_text(raw: bytes) -> str:
    """Bytes of a server message as text: UTF-8 when valid, else Windows-1252 (a superset of the printable
    ISO-8859-1 that ``es_ES`` / ``pt_BR`` servers use before the client encoding is set). Never raises."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")
