"""One bounded HTTP(S) GET of a photo, with the standard library's :mod:`http.client`. Blocking: pool threads only.

Bounds (each one a test in ``tests/test_photos_http.py``):

- time: one deadline for the whole exchange (connect, TLS handshake, request, headers, body, every redirect). Every
  socket operation gets the time left as its timeout, and reads go through :class:`_DeadlineReader`, so a server
  that trickles one byte per second still ends at the deadline. DNS is the one step without a timeout
  (``getaddrinfo`` has none): a hanging resolver holds the pool thread, never the notice.
- size: ``Content-Length`` above the cap is refused before reading; without it the body is read up to cap + 1
  bytes and refused there.
- redirects: at most :data:`MAX_REDIRECTS`, ``http``/``https`` only (301, 302, 303, 307, 308).
- URLs as gym software stores them: a space or a non-ASCII letter in the path or query (``/fotos/José Pérez.jpg``)
  is percent-encoded as UTF-8, the way browsers send it (WHATWG URL Standard, "path percent-encode set"); an
  existing ``%XX`` is kept; a Unicode host name goes out in its IDNA (punycode) form; backslashes before the query
  are slashes (:func:`browser_slashes`). A URL that cannot be sent
  at all (control characters in the host, ``[`` without ``]``) is a :class:`FetchError` (``url``), never another
  exception.
- credentials: user:password in the URL become a Basic ``Authorization`` header (never sent in the URL), and that
  header (or a configured one) goes only to the URL's own origin (scheme, host, port) or its https upgrade (same
  host, port 80 to 443: :func:`keeps_credentials`); a redirect elsewhere drops it.
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
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from agent import APP_NAME, __version__

MAX_REDIRECTS = 3
REDIRECT_CODES = (301, 302, 303, 307, 308)
USER_AGENT = f"{APP_NAME.replace(' ', '-')}/{__version__} (member photos)"
_CHUNK = 64 * 1024
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
"""Kept as they are in a path or query: RFC 3986 reserved and unreserved characters, and ``%`` (an existing
escape); everything else (space, non-ASCII, ``"``, ``<``...) is percent-encoded as UTF-8."""
_BAD_HOST = re.compile(r"[\x00-\x20\x7f/\\?#@<>\"`{}|^]")


class FetchError(Exception):
    """The photo could not be fetched. ``reason`` is a short, secret-free tag (``timeout``, ``http 404``,
    ``too large``, ``redirects``, ``tls``, ``network``, ``scheme``, ``url``) for logs and tests."""

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
    """``url`` as a :class:`Target`; userinfo becomes Basic auth (it wins over ``auth_header``). The path and query
    are percent-encoded where a browser would encode them; the host is IDNA-encoded (see the module docstring).

    Raises :class:`FetchError`: ``scheme`` for anything but ``http``/``https`` with a host, or a bad port; ``url``
    for a URL that cannot be put on the wire.
    """
    try:
        parts = urlsplit(browser_slashes(url.strip()))
        scheme = parts.scheme.lower()
        hostname = parts.hostname
    except ValueError:  # "http://[broken": Invalid IPv6 URL
        raise FetchError("url", "unparsable URL") from None
    if scheme not in ("http", "https") or not hostname:
        raise FetchError("scheme", f"{scheme or 'no scheme'} URL refused")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchError("scheme", "bad port") from None
    try:
        host = hostname if hostname.isascii() else hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise FetchError("url", "host name not valid in IDNA") from None
    if _BAD_HOST.search(host):
        raise FetchError("url", "characters not allowed in a host name")
    auth = auth_header
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_PATH_SAFE + "?")
    return Target(scheme, host, port, path + (f"?{query}" if query else ""), auth)


def keeps_credentials(first: tuple[str, str, int], nxt: tuple[str, str, int]) -> bool:
    """Whether a redirect from origin ``first`` to ``nxt`` (scheme, host, port) keeps the credentials: the same
    origin, or the same host moved from ``http`` on port 80 to ``https`` on port 443 (a server that forces TLS:
    the credentials then travel encrypted, where the first request sent them in clear; the rule of ``requests``'
    ``should_strip_auth``). Pure."""
    if first == nxt:
        return True
    return first[1] == nxt[1] and (first[0], first[2], nxt[0], nxt[2]) == ("http", 80, "https", 443)


def browser_slashes(url: str) -> str:
    """For an ``http(s)`` URL, backslashes before the query or fragment become ``/``, as browsers read them (WHATWG
    URL Standard: for special schemes ``\\`` is a path and authority separator): a Windows program that builds
    ``http://servidor\\fotos\\12.jpg`` with path functions means ``http://servidor/fotos/12.jpg``. Other URLs are
    returned unchanged. Pure."""
    if not url[:8].lower().startswith(("http:", "https:")):
        return url
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    return url[:cut].replace("\\", "/") + url[cut:]


def redacted(url: str) -> str:
    """``url`` without userinfo, query and fragment: safe for logs. Never raises (an unparsable URL gives
    ``<unparsable URL>``, a bad port is left out)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<unparsable URL>"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _header_text(value: str) -> str:
    """A header value as the server meant it: ``http.client`` decodes header bytes as Latin-1, but servers write
    non-ASCII ``Location`` values in UTF-8 (PHP's ``header("Location: /fotos/José.jpg")``), and browsers read them
    so (WHATWG Fetch, "location URL": the value is parsed as a URL, which is UTF-8). Latin-1 text that is not
    valid UTF-8 is kept as it was."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


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
                current = urljoin(current, _header_text(location))
                nxt = parse_target(current)
                # Credentials only ever go to the first URL's origin (or its https upgrade): there the first URL's
                # credentials are kept; anywhere else none are sent (not even userinfo the server wrote into the
                # Location).
                auth = target_auth if keeps_credentials(origin, nxt.origin) else None
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
        conn: http.client.HTTPConnection | None = None
        wrapped: DeadlineSocket | None = None
        try:
            if target.scheme == "https":
                conn = http.client.HTTPSConnection(target.host, target.port, timeout=left, context=self._ssl)
            else:
                conn = http.client.HTTPConnection(target.host, target.port, timeout=left)
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
        except (UnicodeError, ValueError) as exc:  # a header or host http.client refuses to encode
            raise FetchError("url", type(exc).__name__) from None
        finally:
            if conn is not None:
                conn.close()
            if wrapped is not None:
                self._on_socket_done(wrapped)
                wrapped.release()
