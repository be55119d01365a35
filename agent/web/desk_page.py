"""The page as the tray agent runs it: one call for the desk's composition.

:func:`start_for_desk` serves the page with today's entries read from the agent's server, the settings form (its
save reloads the agent), the photo cache and the click action; it returns ``None`` (logged) when no local port can
be bound, and the tray then falls back to the ``settings`` process for "Configuración…"
(:func:`agent.desk.menu_deploy.menu_items` with ``page=None``). Main thread, at start-up.

The composition then: passes the page to ``menu_deploy.menu_items(ctx, page=page)`` (e.g. a
``functools.partial`` in its menu sections); calls ``page.publish(entry, notice)`` for every member entry the desk
handled (an entry listener; any thread); calls ``page.close()`` at exit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from agent.core.config import Settings
from agent.photos.api import PhotoSource
from agent.web.page import PageOptions, ReadToday, TodayPage, table_reader
from agent.web.server import start_page
from agent.web.settings_form import Check, SettingsForm

log = logging.getLogger(__name__)


def start_for_desk(
    *,
    lang: str,
    settings: Settings,
    connect_kwargs: Mapping[str, Any],
    reload_settings: Callable[[], None],
    run_click: Callable[[str, int | str], None] | None = None,
    photos: PhotoSource | None = None,
    check: Check | None = None,
) -> TodayPage | None:
    """Serve the tray agent's page (module docstring).

    ``connect_kwargs``: the agent's connection (:meth:`agent.deploy.connection.ConnectionParams.connect_kwargs`,
    e.g. with ``application_name="aviso-entradas page"``). ``reload_settings``: the desk's "re-read the settings and
    reconnect" (``MenuContext.reload_settings``), called on a request thread after a save through the page (the page
    itself then reads the new server). ``run_click(template, member_id)``: the desk's click action
    (:func:`agent.desk.click.run_click_action`), run with the current ``notifications.click_action``; None or an
    empty template: the page says no action is configured. ``photos``: the desk's photo source. ``check``:
    ``configure``'s check (default :func:`agent.deploy.server_check.check_server`)."""
    if check is None:
        from agent.deploy.server_check import check_server

        check = check_server
    holder: list[TodayPage] = []

    def on_saved(saved: Settings) -> None:
        if holder:
            holder[0].update_settings(saved, _reader_for(saved, form))
        reload_settings()

    def click(member_id: int | str) -> bool:
        current = (holder[0].options.settings if holder else None) or settings
        template = current.notifications.click_action
        if run_click is None or not template:
            return False
        run_click(template, member_id)
        return True

    form = SettingsForm.default(lang, check, on_saved=on_saved)
    options = PageOptions(
        lang=lang,
        settings=settings,
        read_today=table_reader(connect_kwargs),
        photos=photos,
        click=click,
        settings_form=form,
    )
    try:
        page = start_page(options)
    except OSError as exc:
        log.warning("the local page could not be served: %s", exc)
        return None
    holder.append(page)
    return page


def _reader_for(settings: Settings, form: SettingsForm) -> ReadToday | None:
    """A table reader for the server of ``settings``, with the password the form just stored (read back from the
    form's own credential store), or None when the connection cannot be set up."""
    from agent.deploy.connection import ConnectionSetupError, resolve

    try:
        params = resolve(settings.connection, read_password=lambda account, _timeout_s: form.store().get(account))
    except (ConnectionSetupError, RuntimeError, OSError) as exc:  # incl. the store's CredentialsError
        log.warning("the page keeps its previous server: %s", type(exc).__name__)
        return None
    return table_reader(params.connect_kwargs(application_name="aviso-entradas page"))
