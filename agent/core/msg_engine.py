"""User-facing text of the listener engine and the console listener. See :mod:`agent.core.i18n`."""

MESSAGES: dict[str, dict[str, str]] = {
    # listen: the seed's three start lines
    "listen.connected": {"es": "✅ Conexión establecida", "en": "✅ Connection established"},
    "listen.listening": {"es": "Escuchando canal: {channel}", "en": "Listening on channel: {channel}"},
    "listen.polling": {
        "es": "Consultando la tabla cada {seconds} s (modo sin trigger)",
        "en": "Polling the table every {seconds} s (no-trigger mode)",
    },
    "listen.waiting": {"es": "Esperando notificaciones...", "en": "Waiting for notifications..."},
    "listen.entry": {
        "es": "[{at}] Entrada {entry_id}: {name} ({plan}) {source}",
        "en": "[{at}] Entry {entry_id}: {name} ({plan}) {source}",
    },
    "listen.source.live": {"es": "en vivo", "en": "live"},
    "listen.source.catchup": {"es": "recuperada", "en": "caught up"},
    "listen.state": {"es": "Estado: {state}. {reason}", "en": "State: {state}. {reason}"},
    "listen.state_plain": {"es": "Estado: {state}", "en": "State: {state}"},
    "listen.backlog": {
        "es": "{count} entradas antiguas ({oldest} a {newest}) no se muestran una a una",
        "en": "{count} old entries ({oldest} to {newest}) are not shown one by one",
    },
    "listen.timeout": {
        "es": "Tiempo agotado: {received} de {count} entradas en {seconds} s",
        "en": "Timed out: {received} of {count} entries in {seconds} s",
    },
    "listen.timeout_no_count": {
        "es": "Tiempo agotado tras {seconds} s; entradas recibidas: {received}",
        "en": "Timed out after {seconds} s; entries received: {received}",
    },
    # advice for server limits (agent.core.advice.Problem)
    "advice.session_timeout": {
        "es": "El servidor cerró la sesión por inactividad (idle_session_timeout o "
        "idle_in_transaction_session_timeout) aunque el agente fija sus propios límites; el agente reconecta solo. "
        "Quite ese límite del rol pos_user (ALTER ROLE pos_user RESET idle_session_timeout).",
        "en": "The server closed the session as idle (idle_session_timeout or idle_in_transaction_session_timeout) "
        "although the agent sets its own limits; the agent reconnects by itself. Remove that limit from the "
        "pos_user role (ALTER ROLE pos_user RESET idle_session_timeout).",
    },
    "advice.statement_timeout": {
        "es": "El servidor canceló una consulta del agente (statement_timeout o pg_cancel_backend); el agente "
        "reconecta solo. Revise statement_timeout del rol pos_user y la carga del servidor.",
        "en": "The server cancelled a query of the agent (statement_timeout or pg_cancel_backend); the agent "
        "reconnects by itself. Check pos_user's statement_timeout and the server's load.",
    },
    # connection states
    "listen.state.connecting": {"es": "conectando", "en": "connecting"},
    "listen.state.listening": {"es": "conectado", "en": "connected"},
    "listen.state.backing_off": {"es": "sin conexión, reintentando", "en": "disconnected, retrying"},
    "listen.state.auth_failed": {"es": "contraseña rechazada", "en": "password rejected"},
    "listen.state.stopped": {"es": "detenido", "en": "stopped"},
}
