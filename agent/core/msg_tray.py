"""User-facing text of the tray agent and its notifications. See :mod:`agent.core.i18n`.

Plurals: a key ending in ``.one`` is used when the count is 1, ``.other`` otherwise (see
:func:`agent.core.notify_text.plural`).
"""

MESSAGES: dict[str, dict[str, str]] = {
    # -- member status (notification body) -------------------------------------------------------------------
    "status.current_until": {"es": "Al día (vence el {date})", "en": "Current (expires {date})"},
    "status.expires_today": {"es": "Vence hoy", "en": "Expires today"},
    "status.expires_tomorrow": {"es": "Vence mañana", "en": "Expires tomorrow"},
    "status.expiring.other": {"es": "Vence en {days} días", "en": "Expires in {days} days"},
    "status.expired.one": {"es": "VENCIDA hace 1 día", "en": "EXPIRED 1 day ago"},
    "status.expired.other": {"es": "VENCIDA hace {days} días", "en": "EXPIRED {days} days ago"},
    "status.no_expiry": {"es": "Sin fecha de vencimiento", "en": "No expiry date"},
    "status.balance": {"es": "SALDO PENDIENTE: {amount}", "en": "BALANCE DUE: {amount}"},
    "status.birthday": {"es": "¡Hoy es su cumpleaños!", "en": "Birthday today!"},
    "status.denied": {"es": "ACCESO DENEGADO por el torniquete", "en": "ACCESS DENIED by the turnstile"},
    "status.unknown_member": {"es": "Miembro no encontrado", "en": "Member not found"},
    "status.repeat": {"es": "Entró hace {minutes} min", "en": "Entered {minutes} min ago"},
    "status.repeat_now": {"es": "Entró hace menos de 1 min", "en": "Entered less than 1 min ago"},
    "status.first_visit": {"es": "Primera visita", "en": "First visit"},
    "notify.plan": {"es": "Plan {plan}", "en": "{plan} plan"},
    "notify.time": {"es": "Entrada {time}", "en": "Entry {time}"},
    "notify.member_fallback": {"es": "Miembro #{member_id}", "en": "Member #{member_id}"},
    "notify.status_unavailable": {
        "es": "Estado no disponible (ver el registro)",
        "en": "Status unavailable (see the log)",
    },
    # -- summaries -------------------------------------------------------------------------------------------
    "summary.flood_title.one": {"es": "1 entrada más", "en": "1 more entry"},
    "summary.flood_title.other": {"es": "{count} entradas más", "en": "{count} more entries"},
    "summary.pause_title.one": {
        "es": "Avisos reanudados: 1 entrada durante la pausa",
        "en": "Notifications resumed: 1 entry while paused",
    },
    "summary.pause_title.other": {
        "es": "Avisos reanudados: {count} entradas durante la pausa",
        "en": "Notifications resumed: {count} entries while paused",
    },
    "summary.pause_none": {
        "es": "Avisos reanudados: ninguna entrada durante la pausa",
        "en": "Notifications resumed: no entries while paused",
    },
    "summary.catchup_title.one": {
        "es": "1 entrada mientras no había conexión",
        "en": "1 entry while disconnected",
    },
    "summary.catchup_title.other": {
        "es": "{count} entradas mientras no había conexión",
        "en": "{count} entries while disconnected",
    },
    "summary.missed_title.one": {
        "es": "1 aviso no mostrado mientras fallaban las notificaciones",
        "en": "1 notice not shown while notifications failed",
    },
    "summary.missed_title.other": {
        "es": "{count} avisos no mostrados mientras fallaban las notificaciones",
        "en": "{count} notices not shown while notifications failed",
    },
    "summary.warnings.one": {"es": "1 con aviso", "en": "1 with a warning"},
    "summary.warnings.other": {"es": "{count} con aviso", "en": "{count} with warnings"},
    "summary.and_more": {"es": "y {count} más", "en": "and {count} more"},
    "summary.backlog.one": {
        "es": "1 entrada antigua ({oldest}) no se muestra una por una",
        "en": "1 older entry ({oldest}) not shown one by one",
    },
    "summary.backlog.other": {
        "es": "{count} entradas antiguas ({oldest} – {newest}) no se muestran una por una",
        "en": "{count} older entries ({oldest} – {newest}) not shown one by one",
    },
    "summary.backlog_title": {"es": "Entradas anteriores", "en": "Earlier entries"},
    # -- connection trouble (one notice per outage) ---------------------------------------------------------
    "conn.lost_title": {
        "es": "Sin conexión con el torniquete",
        "en": "No connection to the turnstile",
    },
    "conn.lost_body": {
        "es": "No llegarán avisos hasta que vuelva la conexión. {reason}",
        "en": "No notifications until the connection is back. {reason}",
    },
    "conn.restored_title": {"es": "Conexión restablecida", "en": "Connection restored"},
    "conn.restored_body": {
        "es": "Los avisos vuelven a funcionar. Las entradas de la interrupción, si las hubo, se avisan a "
        "continuación (varias juntas, en un resumen).",
        "en": "Notifications work again. Entries made meanwhile, if any, follow (several together, in one summary).",
    },
    # -- test notification -----------------------------------------------------------------------------------
    "test.title": {"es": "Notificación de prueba", "en": "Test notification"},
    "test.body": {
        "es": "Si ve este mensaje, los avisos de entrada funcionan. {state}",
        "en": "If you can see this, entry notifications work. {state}",
    },
    # -- connection states (tooltip, status line) ------------------------------------------------------------
    "state.connecting": {"es": "Conectando…", "en": "Connecting…"},
    "state.listening": {"es": "Conectado", "en": "Connected"},
    "state.backing_off": {
        "es": "Sin conexión, reintento en {seconds} s",
        "en": "Disconnected, retrying in {seconds} s",
    },
    "state.backing_off_plain": {"es": "Sin conexión", "en": "Disconnected"},
    "state.auth_failed": {"es": "Contraseña rechazada", "en": "Password rejected"},
    "state.stopped": {"es": "Detenido", "en": "Stopped"},
    "state.paused_until": {"es": "En pausa hasta las {time}", "en": "Paused until {time}"},
    "state.paused_indefinitely": {"es": "En pausa hasta reanudar", "en": "Paused until resumed"},
    "tooltip.fault": {
        "es": "Error interno repetido: vea el registro",
        "en": "Repeated internal error: see the log",
    },
    "tooltip.degraded": {
        "es": "Avisos no se muestran: falla {notifier} ({missed} pendientes)",
        "en": "Notices not shown: {notifier} fails ({missed} pending)",
    },
    "tooltip.only_warnings": {"es": "Solo avisos importantes", "en": "Warnings only"},
    "tooltip.server": {"es": "Servidor: {server}", "en": "Server: {server}"},
    "tooltip.today.one": {"es": "1 entrada hoy", "en": "1 entry today"},
    "tooltip.today.other": {"es": "{count} entradas hoy", "en": "{count} entries today"},
    # -- menu ------------------------------------------------------------------------------------------------
    "menu.pause_short": {"es": "Pausar {minutes} min", "en": "Pause {minutes} min"},
    "menu.pause_long": {"es": "Pausar {hours} h", "en": "Pause {hours} h"},
    "menu.pause_indefinite": {"es": "Pausar hasta reanudar", "en": "Pause until resumed"},
    "menu.resume": {"es": "Reanudar avisos", "en": "Resume notifications"},
    "menu.only_warnings": {"es": "Solo avisos importantes", "en": "Warnings only"},
    "menu.toggle_pause": {"es": "Pausar / reanudar", "en": "Pause / resume"},
    "menu.recent": {"es": "Últimas entradas", "en": "Last entries"},
    "menu.recent_empty": {"es": "(ninguna todavía)", "en": "(none yet)"},
    "menu.test": {"es": "Notificación de prueba", "en": "Test notification"},
    "menu.reconnect": {"es": "Reconectar ahora", "en": "Reconnect now"},
    "menu.open_log": {"es": "Abrir registro", "en": "Open log file"},
    "menu.quit": {"es": "Salir", "en": "Quit"},
    # -- process ---------------------------------------------------------------------------------------------
    "app.already_running": {
        "es": "Aviso de Entradas ya se está ejecutando para este usuario.",
        "en": "Aviso de Entradas is already running for this user.",
    },
    "app.no_engine": {
        "es": "El motor de escucha no está disponible en esta versión.",
        "en": "The listener engine is not available in this build.",
    },
    "app.headless_start": {
        "es": "Aviso de Entradas en modo consola (sin bandeja). Ctrl+C para salir.",
        "en": "Aviso de Entradas in console mode (no tray). Ctrl+C to quit.",
    },
    "app.fatal_title": {"es": "Aviso de Entradas no pudo iniciar", "en": "Aviso de Entradas could not start"},
    "app.fatal_log": {"es": "Detalles en el registro: {path}", "en": "Details in the log: {path}"},
    "demo.starting": {
        "es": "Demostración: iniciando PostgreSQL embebido…",
        "en": "Demo: starting the embedded PostgreSQL…",
    },
    "demo.page": {
        "es": "Entradas de hoy (página local, solo en este equipo): {url}",
        "en": "Today's entries (local page, this computer only): {url}",
    },
    "demo.ready": {
        "es": "Demostración: servidor {server}; torniquete simulado cada {interval} s. Ctrl+C para salir.",
        "en": "Demo: server {server}; simulated turnstile every {interval} s. Ctrl+C to quit.",
    },
    "demo.turnstile_line": {"es": "torniquete: {line}", "en": "turnstile: {line}"},
    "demo.no_display": {
        "es": "No hay escritorio disponible: se usan avisos en consola.",
        "en": "No desktop available: printing notifications to the console.",
    },
    "demo.failed": {"es": "La demostración no pudo iniciar: {detail}", "en": "The demo could not start: {detail}"},
}
