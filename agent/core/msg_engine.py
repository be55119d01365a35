"""User-facing text of the listener engine and the console listener. See :mod:`agent.core.i18n`."""

MESSAGES: dict[str, dict[str, str]] = {
    # listen: the seed's three start lines
    "listen.connected": {"es": "✅ Conexión establecida", "en": "✅ Connection established"},
    "listen.listening": {"es": "Escuchando canal: {channel}", "en": "Listening on channel: {channel}"},
    "listen.waiting": {"es": "Esperando notificaciones...", "en": "Waiting for notifications..."},
}
