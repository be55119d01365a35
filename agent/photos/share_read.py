"""Reading a photo from a file share (``\\\\servidor\\fotos\\12.jpg``, ``file://servidor/fotos/12.jpg``): blocking,
pool threads only.

Why a share is not a "local file": on Windows an ``os.stat`` of a path on a server that is switched off waits for
the SMB client's connection timeout (tens of seconds) every time, and the desk's thread must never wait for the
network (:class:`agent.photos.api.PhotoSource`). So a share path is treated like a web photo: read here on the
pool, bounded in size, turned into a cached thumbnail, and the notifiers only ever see the local cache file.

Errors are :class:`agent.photos.http_get.FetchError` with the same tags as a download: ``network`` when the
server or the network did not answer (the photo source then leaves that server alone for a minute), ``missing``
for a file that is not there (only that photo is skipped), ``too large``, ``unreadable`` for the rest (no
permission, a folder, a FIFO: never opened for a blocking read).
"""

from __future__ import annotations

import errno
import os
import stat

from agent.photos.http_get import FetchError

NETWORK_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ETIMEDOUT", "EHOSTDOWN", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "ECONNREFUSED", "ESTALE")
    if hasattr(errno, name)
)
"""POSIX errors of a network file system whose server is away."""
NETWORK_WINERRORS = frozenset({51, 52, 53, 59, 64, 67, 121, 1222, 1231, 1232, 1311})
"""Windows errors of a share whose server is away (winerror.h: ERROR_REM_NOT_LIST 51, ERROR_DUP_NAME 52,
ERROR_BAD_NETPATH 53, ERROR_UNEXP_NET_ERR 59, ERROR_NETNAME_DELETED 64, ERROR_BAD_NET_NAME 67, ERROR_SEM_TIMEOUT
121, ERROR_NO_NETWORK 1222, ERROR_NETWORK_UNREACHABLE 1231, ERROR_HOST_UNREACHABLE 1232, ERROR_NO_LOGON_SERVERS
1311). Python maps several of them to ``FileNotFoundError``, so the number decides, not the class."""


def is_share(path: str) -> bool:
    """True for a UNC path (``\\\\server\\share\\...``, ``//server/share/...``, ``\\\\?\\UNC\\...``); False for local
    paths, drive letters and the ``\\\\?\\C:`` / ``\\\\.\\`` forms. Pure."""
    p = path.replace("/", "\\")
    if p.upper().startswith("\\\\?\\UNC\\"):
        return True
    return p.startswith("\\\\") and not p.startswith(("\\\\?\\", "\\\\.\\")) and len(p) > 2 and p[2] != "\\"


def share_host(path: str) -> str:
    """The server name of a share path, lower case (``\\\\Servidor\\fotos\\1.jpg`` -> ``servidor``). Pure."""
    p = path.replace("/", "\\")
    if p.upper().startswith("\\\\?\\UNC\\"):
        p = "\\\\" + p[8:]
    return p[2:].split("\\", 1)[0].lower() or "?"


def read_share(path: str, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes``. Raises :class:`FetchError` (module docstring)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError) as exc:
        raise _error(exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FetchError("unreadable", "not a regular file")
        if st.st_size > max_bytes:
            raise FetchError("too large", f"{st.st_size} bytes > {max_bytes}")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise FetchError("too large", f"more than {max_bytes} bytes")
        return data
    except OSError as exc:
        raise _error(exc) from None
    finally:
        os.close(fd)


def _error(exc: BaseException) -> FetchError:
    if isinstance(exc, OSError) and (
        getattr(exc, "winerror", None) in NETWORK_WINERRORS or exc.errno in NETWORK_ERRNOS
    ):
        return FetchError("network", type(exc).__name__)
    if isinstance(exc, FileNotFoundError):
        return FetchError("missing", "no such file")
    return FetchError("unreadable", type(exc).__name__)
