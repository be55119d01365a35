"""User-facing text of the tray agent and its notifications. See :mod:`agent.core.i18n`."""

MESSAGES: dict[str, dict[str, str]] = {}
