"""A real HTTP(S) photo server on 127.0.0.1 for the photo tests, with one path per misbehaviour.

Paths: ``/ok.jpg`` (a JPEG, EXIF orientation 6: left half red, right half blue as stored), ``/slow.jpg`` (the
same after ``slow_s``), ``/404``, ``/huge-cl`` (claims 50 MB in Content-Length), ``/huge`` (streams without
Content-Length until the client hangs up), ``/page.html`` (HTML), ``/loop`` (redirects to itself),
``/fotos/<anything>`` (the JPEG), ``/hop/N`` (N redirects then ``/ok.jpg``), ``/to?u=URL`` (redirects to URL),
``/to-utf8`` (a raw UTF-8 ``Location``), ``/mutable.jpg`` (``mutable``), ``/auth.jpg`` (the JPEG; records the
``Authorization`` header), ``/trickle`` (status line one byte every 0.2 s). Every request is recorded in
``requests`` as ``(raw path, headers)``.
"""

from __future__ import annotations

import io
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from PIL import Image


def rotated_jpeg(width: int = 400, height: int = 200, orientation: int = 6) -> bytes:
    """A JPEG stored ``width`` x ``height``, left half red and right half blue, with an EXIF Orientation tag.
    Orientation 6 means "rotate 90 degrees clockwise to display": shown upright, red is on top, blue below."""
    img = Image.new("RGB", (width, height), (255, 0, 0))
    img.paste((0, 0, 255), (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif, quality=95)
    return out.getvalue()


JPEG = rotated_jpeg()


class PhotoHandler(BaseHTTPRequestHandler):
    server: PhotoHttpServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _image(self, body: bytes = JPEG, ctype: str = "image/jpeg") -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, code: int = 302) -> None:
        self.send_response(code)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self.server.record(path, dict(self.headers.items()))
        if path == "/ok.jpg" or path == "/auth.jpg" or path.startswith("/fotos/"):
            self._image()
        elif path == "/mutable.jpg":  # the picture the test put there last (a photo retaken at the same URL)
            self._image(self.server.mutable)
        elif path == "/slow.jpg":
            time.sleep(self.server.slow_s)
            self._image()
        elif path == "/page.html":
            self._image(b"<!doctype html><html><body>Not a photo</body></html>" * 20, "text/html")
        elif path == "/huge-cl":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(50_000_000))
            self.end_headers()
            self.wfile.write(JPEG)
        elif path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()  # HTTP/1.0, no length: the body ends when the server closes
            chunk = b"\xff" * 65536
            try:
                for _ in range(2000):  # 128 MB at most
                    self.wfile.write(chunk)
                    self.server.huge_sent += len(chunk)
            except OSError:
                pass
        elif path == "/loop":
            self._redirect("/loop")
        elif path.startswith("/hop/"):
            n = int(path.rsplit("/", 1)[1])
            self._redirect(f"/hop/{n - 1}" if n > 1 else "/ok.jpg", 301)
        elif path == "/to":
            self._redirect(parse_qs(parts.query)["u"][0], 307)
        elif path == "/to-utf8":  # a raw UTF-8 Location, as PHP's header() writes it
            self.send_response_only(302)
            self.flush_headers()
            self.wfile.write("Location: /fotos/José Núñez.jpg\r\nContent-Length: 0\r\n\r\n".encode())
        elif path == "/trickle":
            try:
                for byte in b"HTTP/1.0 200 OK\r\n":
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
        else:
            self.send_error(404)


class PhotoHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), PhotoHandler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.slow_s = 1.0
        self.huge_sent = 0
        self.mutable = JPEG
        self._lock = threading.Lock()
        self.scheme = "http"

    def record(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((path, headers))

    def hits(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [h for p, h in self.requests if p == path]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.server_address[1]}{path}"


@contextmanager
def photo_server(tls: ssl.SSLContext | None = None) -> Iterator[PhotoHttpServer]:
    """A running :class:`PhotoHttpServer` (HTTPS when ``tls`` is a server context)."""
    server = PhotoHttpServer()
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def silent_server() -> Iterator[str]:
    """A TCP port that completes the handshake (listen backlog) and never sends a byte; yields its URL base."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def make_tls_files(workdir: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate made with ``openssl`` (as
    tests/test_tls.py does; the certificate names ``localhost`` only). Returns (ca.crt, server.crt, server.key)."""
    from tests.test_tls import _openssl, make_ca

    make_ca(workdir, "ca")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr", cwd=workdir,
    )  # fmt: skip
    (workdir / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.crt", cwd=workdir,
    )  # fmt: skip
    return workdir / "ca.crt", workdir / "server.crt", workdir / "server.key"
