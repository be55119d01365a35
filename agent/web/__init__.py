"""The agent's local web page: "Entradas de hoy" (today's member entries, live) and the settings form.

Start it with :func:`agent.web.page.start_page`; see :mod:`agent.web.page` (state, threads),
:mod:`agent.web.server` (HTTP and the security model), :mod:`agent.web.rows` (one row, its colour),
:mod:`agent.web.settings_form` (the form's checks and saving). The page's files are in ``static/``.
"""
