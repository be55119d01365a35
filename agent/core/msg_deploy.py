"""User-facing text of configuration, credentials and autostart. See :mod:`agent.core.i18n`."""

MESSAGES: dict[str, dict[str, str]] = {}
