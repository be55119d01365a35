"""User-facing text of doctor and connection-error advice. See :mod:`agent.core.i18n`."""

MESSAGES: dict[str, dict[str, str]] = {}
