"""User-facing text of the listener engine and the console listener. See :mod:`agent.core.i18n`."""

MESSAGES: dict[str, dict[str, str]] = {
    # listen: the seed's three start lines
    "listen.connected": {"es": "✅ Conexión establecida", "en": "✅ Connection established"},
    "listen.listening": {"es": "Escuchando canal: {channel}", "en": "Listening on channel: {channel}"},
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
    # connection states
    "listen.state.connecting": {"es": "conectando", "en": "connecting"},
    "listen.state.listening": {"es": "conectado", "en": "connected"},
    "listen.state.backing_off": {"es": "sin conexión, reintentando", "en": "disconnected, retrying"},
    "listen.state.auth_failed": {"es": "contraseña rechazada", "en": "password rejected"},
    "listen.state.stopped": {"es": "detenido", "en": "stopped"},
}
