"""Aviso de Entradas: a tray agent that tells a gym's front desk that a member just passed the turnstile.

The version below is the single source of truth: ``pyproject.toml`` reads it (``[tool.setuptools.dynamic]``),
the CLI prints it and the Windows version resource is generated from it.
"""

__version__ = "0.1.0"
APP_NAME = "Aviso de Entradas"
APP_ID = "AvisoEntradas"
