"""User-facing text of the local page ("Entradas de hoy" and the settings form, :mod:`agent.web`) and its tray
menu item. See :mod:`agent.core.i18n`. Keys starting with ``web.page.`` are sent to the page's script as they are.
"""

MESSAGES: dict[str, dict[str, str]] = {
    # -- tray menu / command line ------------------------------------------------------------------------------
    "web.menu.today": {"es": "Entradas de hoy", "en": "Today's entries"},
    "web.url": {"es": "Página local: {url}", "en": "Local page: {url}"},
    "web.cannot_serve": {
        "es": "No se pudo abrir la página local ({detail}).",
        "en": "The local page could not be served ({detail}).",
    },
    "web.settings_waiting": {
        "es": "Abra esa dirección en el navegador para cambiar la configuración; esta ventana espera hasta que "
        "guarde o cierre la página (Ctrl+C para salir sin guardar).",
        "en": "Open that address in a browser to change the settings; this waits until you save or close the page "
        "(Ctrl+C to quit without saving).",
    },
    "web.settings_closed": {"es": "Configuración cerrada sin guardar.", "en": "Settings closed without saving."},
    "web.settings_saved": {"es": "Configuración guardada.", "en": "Settings saved."},
    "web.no_browser": {
        "es": "No se pudo abrir el navegador: abra la dirección a mano.",
        "en": "The browser could not be opened: open the address by hand.",
    },
    # -- row status (page) ---------------------------------------------------------------------------------------
    "web.status.repeat": {"es": "Entró hace {minutes} min", "en": "Entered {minutes} min ago"},
    "web.status.first_visit": {"es": "Primera visita", "en": "First visit"},
    "web.tone.ok": {"es": "Acceso permitido", "en": "Access granted"},
    # -- the page ------------------------------------------------------------------------------------------------
    "web.page.title": {"es": "Entradas de hoy", "en": "Today's entries"},
    "web.page.settings": {"es": "Configuración", "en": "Settings"},
    "web.page.filter": {"es": "Buscar por nombre", "en": "Filter by name"},
    "web.page.count": {"es": "{shown} de {total} entradas", "en": "{shown} of {total} entries"},
    "web.page.col_time": {"es": "Hora", "en": "Time"},
    "web.page.col_photo": {"es": "Foto", "en": "Photo"},
    "web.page.col_name": {"es": "Nombre", "en": "Name"},
    "web.page.col_plan": {"es": "Plan", "en": "Plan"},
    "web.page.col_status": {"es": "Estado", "en": "Status"},
    "web.page.empty": {"es": "Todavía no hay entradas hoy.", "en": "No entries yet today."},
    "web.page.live": {"es": "En vivo", "en": "Live"},
    "web.page.offline": {"es": "Sin conexión con el agente: reintentando…", "en": "Agent not reachable: retrying…"},
    "web.page.db_error": {
        "es": "No se pudo leer la base de datos; se muestran las entradas recibidas desde el inicio.",
        "en": "The database could not be read; showing the entries received since start.",
    },
    "web.page.click_hint": {
        "es": "Enter o clic en una fila: abrir la ficha del miembro.",
        "en": "Enter or click on a row: open the member's record.",
    },
    "web.page.click_none": {
        "es": "No hay acción de clic configurada.",
        "en": "No click action is configured.",
    },
    "web.page.legend": {
        "es": "Verde: permitido · Rojo: denegado, vencida o saldo · Ámbar: por vencer o entrada repetida · "
        "Azul: cumpleaños o primera visita",
        "en": "Green: granted · Red: denied, expired or balance due · Amber: expiring or repeat entry · "
        "Blue: birthday or first visit",
    },
    # -- settings form ---------------------------------------------------------------------------------------------
    "web.page.server": {"es": "Servidor del torniquete", "en": "Turnstile server"},
    "web.page.notifications": {"es": "Avisos", "en": "Notifications"},
    "web.page.password_stored": {
        "es": "Hay una contraseña guardada: deje el campo vacío para conservarla.",
        "en": "A password is stored: leave the field empty to keep it.",
    },
    "web.page.password_absent": {
        "es": "No hay contraseña guardada para este servidor.",
        "en": "No password is stored for this server.",
    },
    "web.page.only_warnings": {"es": "Solo avisos importantes", "en": "Warnings only"},
    "web.page.expiry_days": {"es": "Avisar vencimiento (días antes)", "en": "Expiry warning (days before)"},
    "web.page.repeat_min": {"es": "Entrada repetida (minutos)", "en": "Repeat entry (minutes)"},
    "web.page.click_action": {"es": "Acción al hacer clic (URL o comando)", "en": "Click action (URL or command)"},
    "web.page.language": {"es": "Idioma", "en": "Language"},
    "web.page.close": {"es": "Cerrar", "en": "Close"},
    "web.page.busy": {"es": "Comprobando…", "en": "Checking…"},
    "web.page.failed": {"es": "No se pudo completar: {detail}", "en": "Could not complete: {detail}"},
    "web.page.closed": {
        "es": "Puede cerrar esta pestaña.",
        "en": "You may close this tab.",
    },
}
