"""One bounded HTTP(S) GET of a photo, with the standard library's :mod:`http.client`. Blocking: pool threads only.

Bounds (each one a test in ``tests/test_photos_http.py``):

- time: one deadline for the whole exchange (connect, TLS handshake, request, headers, body, every redirect). Every
  socket operation gets the time left as its timeout, and reads go through :class:`_DeadlineReader`, so a server
  that trickles one byte per second still ends at the deadline. DNS is the one step without a timeout
  (``getaddrinfo`` has none): a hanging resolver holds the pool thread, never the notice.
- size: ``Content-Length`` above the cap is refused before reading; without it the body is read up to cap + 1
  bytes and refused there.
- redirects: at most :data:`MAX_REDIRECTS`, ``http``/``https`` only (301, 302, 303, 307, 308).
- credentials: user:password in the URL become a Basic ``Authorization`` header (never sent in the URL), and that
  header (or a configured one) goes only to the URL's own origin (scheme, host, port); a redirect elsewhere drops
  it.
- TLS: verified against the default trust store (:func:`ssl.create_default_context`), or an injected context.

Why not ``urllib.request``: its redirect handler does not bound the time of the whole chain, keeps
``Authorization`` headers across hosts unless one strips them by hand, and rejects ``user:pass@`` URLs
(``InvalidURL: nonnumeric port``); the exchange below is short enough to own. No third-party HTTP library is
needed, so nothing new to freeze with PyInstaller.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from agent import APP_NAME, __version__

MAX_REDIRECTS = 3
REDIRECT_CODES = (301, 302, 303, 307, 308)
USER_AGENT = f"{APP_NAME.replace(' ', '-')}/{__version__} (member photos)"
_CHUNK = 64 * 1024


class FetchError(Exception):
    """The photo could not be fetched. ``reason`` is a short, secret-free tag (``timeout``, ``http 404``,
    ``too large``, ``redirects``, ``tls``, ``network``, ``scheme``) for logs and tests."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """A URL split for a request: ``origin`` = (scheme, host, port); ``auth`` = an ``Authorization`` value."""

    scheme: str
    host: str
    port: int
    path: str
    auth: str | None

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host.lower(), self.port)


def parse_target(url: str, auth_header: str | None = None) -> Target:
    """``url`` as a :class:`Target`; userinfo becomes Basic auth (it wins over ``auth_header``).

    Raises :class:`FetchError` (``scheme``) for anything but ``http``/``https`` with a host.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("scheme", f"{scheme or 'no scheme'} URL refused")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchError("scheme", "bad port") from None
    auth = auth_header
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return Target(scheme, parts.hostname, port, path, auth)


def redacted(url: str) -> str:
    """``url`` without userinfo, query and fragment: safe for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _DeadlineReader(io.RawIOBase):
    """The response stream: each ``recv`` gets the time left before the deadline as its timeout."""

    def __init__(self, sock: socket.socket, deadline: float, clock: Callable[[], float]) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline
        self._clock = clock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - self._clock()
        if left <= 0:
            raise TimeoutError("photo fetch deadline")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class DeadlineSocket:
    """Wraps a connected socket so :class:`http.client.HTTPResponse` reads through :class:`_DeadlineReader`."""

    def __init__(self, sock: socket.socket, deadline: float, clock: Callable[[], float]) -> None:
        self._sock = sock
        self._deadline = deadline
        self._clock = clock

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline, self._clock))

    def sendall(self, data: bytes) -> None:
        left = self._deadline - self._clock()
        if left <= 0:
            raise TimeoutError("photo fetch deadline")
        self._sock.settimeout(left)
        self._sock.sendall(data)

    def close(self) -> None:
        """No-op: ``http.client`` closes the connection while the response still reads an HTTP/1.0 body (a real
        socket counts its ``makefile`` users; this wrapper does not), so :meth:`Fetcher._once` closes the socket
        itself with :meth:`release` when it is done."""

    def release(self) -> None:
        """Close the wrapped socket (once the exchange is over)."""
        self._sock.close()

    def abort(self) -> None:
        """Wake a blocked ``recv`` from another thread (``close()`` of the photo source)."""
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)  # the plain method: works under TLS too

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Fetcher:
    """GETs photos within a deadline. One instance serves all pool threads (it keeps no per-request state).

    ``ssl_context``: verification context for ``https`` (default :func:`ssl.create_default_context`, the OS trust
    store). ``on_socket``/``on_socket_done``: called with each connected socket's wrapper when it opens/closes (its
    ``abort()`` wakes a blocked read from another thread); the photo source uses them to stop fetches at exit.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_socket: Callable[[DeadlineSocket], None] = lambda s: None,
        on_socket_done: Callable[[DeadlineSocket], None] = lambda s: None,
    ) -> None:
        self._ssl = ssl_context or ssl.create_default_context()
        self._clock = clock
        self._on_socket = on_socket
        self._on_socket_done = on_socket_done

    def get(self, url: str, *, max_bytes: int, timeout_s: float, auth_header: str | None = None) -> bytes:
        """The body of ``url`` (after at most :data:`MAX_REDIRECTS` redirects), at most ``max_bytes`` long, all
        within ``timeout_s`` seconds. Raises :class:`FetchError`; never anything else for network trouble."""
        deadline = self._clock() + timeout_s
        target = parse_target(url, auth_header)
        origin = target.origin
        target_auth = target.auth
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            status, location, body = self._once(target, deadline, max_bytes)
            if status in REDIRECT_CODES:
                if not location:
                    raise FetchError(f"http {status}", "redirect without Location")
                current = urljoin(current, location)
                nxt = parse_target(current)
                # Credentials only ever go to the first URL's origin: on it the first URL's credentials are kept;
                # anywhere else none are sent (not even userinfo the server wrote into the Location).
                auth = target_auth if nxt.origin == origin else None
                target = Target(nxt.scheme, nxt.host, nxt.port, nxt.path, auth)
                continue
            if status != 200:
                raise FetchError(f"http {status}")
            return body
        raise FetchError("redirects", f"more than {MAX_REDIRECTS}")

    def _once(self, target: Target, deadline: float, max_bytes: int) -> tuple[int, str | None, bytes]:
        left = deadline - self._clock()
        if left <= 0:
            raise FetchError("timeout")
        conn: http.client.HTTPConnection
        if target.scheme == "https":
            conn = http.client.HTTPSConnection(target.host, target.port, timeout=left, context=self._ssl)
        else:
            conn = http.client.HTTPConnection(target.host, target.port, timeout=left)
        wrapped: DeadlineSocket | None = None
        try:
            conn.connect()
            assert conn.sock is not None
            wrapped = DeadlineSocket(conn.sock, deadline, self._clock)
            self._on_socket(wrapped)
            conn.sock = wrapped  # type: ignore[assignment]
            headers = {"User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity"}
            if target.auth:
                headers["Authorization"] = target.auth
            conn.request("GET", target.path, headers=headers)
            resp = conn.getresponse()
            if resp.status in REDIRECT_CODES:
                return resp.status, resp.getheader("Location"), b""
            if resp.status != 200:
                return resp.status, None, b""
            length = resp.getheader("Content-Length")
            if length is not None and length.strip().isdigit() and int(length) > max_bytes:
                raise FetchError("too large", f"Content-Length {int(length)} > {max_bytes}")
            body = bytearray()
            while len(body) <= max_bytes:
                chunk = resp.read(min(_CHUNK, max_bytes + 1 - len(body)))
                if not chunk:
                    break
                body += chunk
            if len(body) > max_bytes:
                raise FetchError("too large", f"more than {max_bytes} bytes")
            return 200, None, bytes(body)
        except FetchError:
            raise
        except ssl.SSLError as exc:  # before OSError: SSLError is one; CertificateError is an SSLError
            raise FetchError("tls", type(exc).__name__ + ": " + str(getattr(exc, "reason", "") or "")) from None
        except TimeoutError:
            raise FetchError("timeout") from None
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError("network", type(exc).__name__) from None
        finally:
            conn.close()
            if wrapped is not None:
                self._on_socket_done(wrapped)
                wrapped.release()
