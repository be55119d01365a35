"""The click action (settings ``notifications.click_action``): what a click on an entry's notification runs.

A template that starts with ``scheme://`` is a URL: ``{id_miembro}`` (or ``{member_id}``) is replaced by the
member id **percent-encoded** (every reserved character, so ``BQ 88`` → ``BQ%2088``) and the URL opens in the
browser. Anything else is a command line run without a shell: the template is **split into arguments first**
(Windows rules on Windows, :func:`split_windows`; POSIX shell-like rules elsewhere, :func:`shlex.split`), then the
placeholder is replaced inside each argument. So one id is always exactly one argument (or one part of one):
``A-17 --borrar`` cannot add an option, an apostrophe cannot break the quoting, a space cannot split it
(issue 11 item 4). On Windows the list goes through ``subprocess.list2cmdline``, which quotes each argument so the
program's C runtime parses it back whole — except a batch file: ``CreateProcess`` runs a ``.bat``/``.cmd`` through
``cmd.exe``, which re-parses the line with its own rules (``&``, ``|``, ``%``, ``^``... are not quoted by
``list2cmdline``: the "BatBadBut" class of injection, CVE-2024-24576), so for a batch file an id holding any
character but letters, digits, ``.``, ``_`` and ``-`` is refused (:func:`build_argv` raises ``ValueError``).
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
import sys
import threading
import webbrowser
from collections.abc import Callable
from urllib.parse import quote

log = logging.getLogger("agent.desk.click")

PLACEHOLDERS = ("{id_miembro}", "{member_id}")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BATCH = (".bat", ".cmd")
_BATCH_SAFE_ID = re.compile(r"[\w.-]*")


def _substitute(text: str, value: str) -> str:
    for placeholder in PLACEHOLDERS:
        text = text.replace(placeholder, value)
    return text


def click_url(template: str, member_id: int | str) -> str | None:
    """The URL to open for ``member_id``, or None when ``template`` is not a URL."""
    if not _URL.match(template.strip()):
        return None
    return _substitute(template.strip(), quote(str(member_id), safe=""))


def split_windows(command_line: str) -> list[str]:
    """Split like ``CommandLineToArgvW`` / the Microsoft C runtime (the inverse of ``subprocess.list2cmdline``):
    spaces and tabs separate arguments outside double quotes; ``2n`` backslashes before ``"`` give ``n``
    backslashes and a quote toggle, ``2n+1`` give ``n`` backslashes and a literal ``"``; other backslashes are
    literal; ``""`` inside quotes is a literal ``"``. The first argument (the program) ends at the next quote or
    blank with no backslash rules (Microsoft docs, "Parsing C++ command-line arguments")."""
    text = command_line.lstrip(" \t")
    args: list[str] = []
    if not text:
        return args
    # the program name
    if text[0] == '"':
        end = text.find('"', 1)
        end = len(text) if end < 0 else end
        args.append(text[1:end])
        rest = text[end + 1 :]
    else:
        match = re.match(r"[^ \t]*", text)
        assert match is not None
        args.append(match.group(0))
        rest = text[match.end() :]
    i, n = 0, len(rest)
    while True:
        while i < n and rest[i] in " \t":
            i += 1
        if i >= n:
            return args
        current: list[str] = []
        quoted = False
        while i < n and (quoted or rest[i] not in " \t"):
            ch = rest[i]
            if ch == "\\":
                j = i
                while j < n and rest[j] == "\\":
                    j += 1
                count = j - i
                if j < n and rest[j] == '"':
                    current.append("\\" * (count // 2))
                    if count % 2:
                        current.append('"')
                        i = j + 1
                    else:
                        i = j  # the quote is handled below
                    continue
                current.append("\\" * count)
                i = j
                continue
            if ch == '"':
                if quoted and i + 1 < n and rest[i + 1] == '"':
                    current.append('"')
                    i += 2
                    continue
                quoted = not quoted
                i += 1
                continue
            current.append(ch)
            i += 1
        args.append("".join(current))


def build_argv(template: str, member_id: int | str, *, windows: bool | None = None) -> list[str]:
    """The argument list for a command template: split first, then substitute in each argument. Raises
    ``ValueError`` when the template itself cannot be split (an unclosed quote in the configured template), or on
    Windows when the program is a batch file and the id is not plain (module docstring)."""
    on_windows = sys.platform == "win32" if windows is None else windows
    parts = split_windows(template) if on_windows else shlex.split(template, posix=True)
    value = str(member_id)
    batch = on_windows and bool(parts) and parts[0].strip().lower().endswith(_BATCH)
    if batch and not _BATCH_SAFE_ID.fullmatch(value):
        raise ValueError(f"click action: a batch file gets only plain ids; {value!r} refused (cmd.exe would parse it)")
    return [_substitute(part, value) for part in parts]


def run_click_action(template: str, member_id: int | str | None) -> None:
    """Run the configured click action for ``member_id`` (module docstring). Desk thread; returns at once: the
    URL or command is built here (``ValueError`` for a template that cannot be split or an id refused for a batch
    file: the loop's barrier logs it) and launched on a short-lived **aviso-click** thread, because launching may
    block — ``webbrowser.open`` waits for the browser process to *exit* when ``$BROWSER`` names one
    (``webbrowser.GenericBrowser``), up to 5 s for a remote-capable one; a launch failure is logged there."""
    if not template or member_id is None:
        return
    url = click_url(template, member_id)
    if url is not None:
        _launch(lambda: webbrowser.open(url), f"URL {url}")
        return
    argv = build_argv(template, member_id)
    if argv:
        _launch(lambda: subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), argv[0])


def _launch(start: Callable[[], object], what: str) -> threading.Thread:
    def run() -> None:
        try:
            start()
        except Exception:  # this thread's barrier: a click that cannot start is logged, nothing else
            log.exception("click action %s failed", what)

    thread = threading.Thread(target=run, name="aviso-click", daemon=True)
    thread.start()
    return thread
