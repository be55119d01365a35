"""The page as the tray agent runs it: one call for the desk's composition.

:func:`start_for_desk` serves the page with today's entries read from the agent's server, the settings form (its
save reloads the agent), the photo cache and the click action; it returns ``None`` (logged) when no local port can
be bound, and the tray then falls back to the ``settings`` process for "Configuración…"
(:func:`agent.desk.menu_deploy.menu_items` with ``page=None``). Main thread, at start-up.

The composition then: passes the page to ``menu_deploy.menu_items(ctx, page=page)``; calls
``page.publish(entry, notice)`` for every member entry the desk handled (any thread); after a settings reload calls
``page.update_settings(settings, table_reader(params.connect_kwargs(...)))``; calls ``page.close()`` at exit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from agent.core.config import Settings
from agent.photos.api import PhotoSource
from agent.web.page import Click, PageOptions, TodayPage, table_reader
from agent.web.server import start_page
from agent.web.settings_form import Check, SettingsForm

log = logging.getLogger(__name__)


def start_for_desk(
    *,
    lang: str,
    settings: Settings,
    connect_kwargs: Mapping[str, Any],
    check: Check,
    reload_settings: Callable[[], None],
    click: Click | None = None,
    photos: PhotoSource | None = None,
) -> TodayPage | None:
    """Serve the tray agent's page (module docstring). ``connect_kwargs``: the agent's connection
    (:meth:`agent.deploy.connection.ConnectionParams.connect_kwargs`, e.g. ``application_name="aviso-entradas page"``);
    ``check`` is ``configure``'s check
    (:func:`agent.cli.deploy.check_server`); ``reload_settings`` is the desk's "re-read settings and reconnect"
    (``MenuContext.reload_settings``), called on a request thread after a save; ``click(member_id) -> bool`` runs the
    configured click action (False: none configured)."""
    form = SettingsForm.default(lang, check, on_saved=lambda _settings: reload_settings())
    reader = table_reader(connect_kwargs)
    options = PageOptions(
        lang=lang, settings=settings, read_today=reader, photos=photos, click=click, settings_form=form
    )
    try:
        return start_page(options)
    except OSError as exc:
        log.warning("the local page could not be served: %s", exc)
        return None
