"""Logging for the tray agent: a rotating file in the user log directory, and stderr when there is one.

* File: ``<user log dir>/aviso-entradas.log`` (platformdirs: ``%LOCALAPPDATA%\\AvisoEntradas\\Logs`` on Windows,
  ``~/.local/state/AvisoEntradas/log`` on Linux), or ``$AVISO_LOG_DIR``; 1 MB per file, 5 old files kept
  (``RotatingFileHandler``), UTF-8.
* The seed's lines appear there as the engine logs them: "Escuchando canal PostgreSQL: <canal>",
  "Procesando entrada ID: <id>".
* A windowed executable (PyInstaller ``--windowed``) has ``sys.stdout``/``sys.stderr`` set to None: they are
  replaced by ``os.devnull`` writers so ``print`` and libraries that write there do not crash, and no console
  handler is added.
* :class:`RedactFilter` masks ``password=...`` and ``postgresql://user:pass@`` in every record, as a second line of
  defence: the agent never passes a password to a log call.

* :func:`install_excepthooks` sends an exception nobody caught — on the main thread (``sys.excepthook``) or on
  any other (``threading.excepthook``) — to the log file with its traceback, so no thread dies unseen (a windowed
  exe has no stderr).

Call :func:`setup_logging` once, on the main thread, before reading the configuration and before starting
other threads (calling it again later, e.g. with the configured level, only replaces our handlers).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

from agent import APP_ID

LOG_NAME = "aviso-entradas.log"
MAX_BYTES = 1_000_000
BACKUP_COUNT = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def redact(text: str) -> str:
    """``text`` with password values replaced by ``***`` (the one redactor: :func:`agent.db.connect.redact`)."""
    from agent.db.connect import redact as redact_secrets

    return redact_secrets(text, mask="***")


class RedactFilter(logging.Filter):
    """Masks secrets in the formatted message of every record, and in its traceback (``exc_info``: an exception's
    text may hold a conninfo; the formatter would print it as is)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)  # cached: the formatter uses it
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def log_dir() -> Path:
    """``$AVISO_LOG_DIR`` or the platform's per-user log directory (not created here)."""
    env = os.environ.get("AVISO_LOG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_log_path(APP_ID, appauthor=False))


def log_path() -> Path:
    """The current log file."""
    return log_dir() / LOG_NAME


_WINDOWED: list[bool] = []


def windowed() -> bool:
    """True when the process started without a usable stderr (a PyInstaller ``--windowed`` exe): errors must then
    be shown to the person some other way (:mod:`agent.desk.fatal`)."""
    return _WINDOWED[0] if _WINDOWED else sys.stderr is None


def ensure_std_streams() -> None:
    """Give a windowed process (``sys.stdout``/``sys.stderr`` None) harmless writable streams."""
    if not _WINDOWED:
        _WINDOWED.append(sys.stderr is None)
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (lives as long as the process)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115


def setup_logging(level: str = "INFO", *, console: bool = True, path: Path | None = None) -> Path:
    """Configure the root logger: rotating file at ``path`` (default :func:`log_path`), plus stderr when
    ``console`` and the process has a real stderr. Returns the file's path. Idempotent (replaces our handlers).

    If the file cannot be opened (read-only profile) logging goes to stderr only; never raises for that.
    """
    had_console = sys.stderr is not None
    ensure_std_streams()
    target = path or log_path()
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for handler in list(root.handlers):
        if getattr(handler, "_aviso", False):
            root.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(FORMAT)
    redactor = RedactFilter()
    handlers: list[logging.Handler] = []
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                target, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8", delay=False
            )
        )
    except OSError as exc:
        print(f"log file {target} cannot be opened: {exc}", file=sys.stderr)
    if console and had_console:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redactor)
        handler._aviso = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    return target


def install_excepthooks() -> None:
    """Log uncaught exceptions of every thread (with traceback) to the log; Ctrl+C stays quiet. Idempotent."""
    crash = logging.getLogger("agent.crash")

    def main_hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        crash.critical("uncaught exception: the agent stops", exc_info=(kind, exc, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "?"
        crash.error(
            "uncaught exception in thread %s", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
        )

    sys.excepthook = main_hook
    threading.excepthook = thread_hook


def open_in_viewer(path: Path) -> None:
    """Open ``path`` with the desktop's default application (Notepad, a text editor...). Raises ``OSError``."""
    if sys.platform == "win32":
        os.startfile(path)  # noqa: S606 (a file we own, opened by the user's choice)
    elif sys.platform == "darwin":
        subprocess.Popen(["open", str(path)])
    else:
        subprocess.Popen(["xdg-open", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
