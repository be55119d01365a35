"""The demo's photo server: avatars (initials on a coloured square, drawn with Pillow at start, nothing downloaded)
served over plain HTTP on 127.0.0.1 at a port the OS picks, so the demo exercises the real ``http://`` path.

Use::

    server = DemoPhotoServer(demo_data.photo_people()).start()
    demo_data.set_photo_urls(cur, server.base_url)      # after the demo members are loaded
    ...
    server.stop()

Threads: :meth:`DemoPhotoServer.start` runs the server's loop on one daemon thread (the standard library's
``ThreadingHTTPServer``: one more thread per request); :meth:`DemoPhotoServer.stop` may be called from any thread.
"""

from __future__ import annotations

import io
import threading
import unicodedata
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from PIL import Image, ImageDraw, ImageFont

PATH_PREFIX = "/fotos/"
"""URL path of the photos: ``<base_url>/<key>.jpg`` with ``base_url`` ending in ``/fotos``."""
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")
SIZE_PX = 320


def initials(name: str) -> str:
    """Up to two upper-case initials of ``name`` (first and last word), accents dropped:
    ``"Íñigo Zúñiga Peñalver" -> "IP"``."""
    words = [w for w in name.split() if w]
    if not words:
        return "?"
    picked = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    # Pillow's built-in font has a limited character set: draw "Í" as "I" rather than as a missing-glyph box.
    plain = "".join(c for c in unicodedata.normalize("NFKD", picked) if not unicodedata.combining(c))
    return plain.upper()


def avatar_jpeg(name: str, colour: str, size_px: int = SIZE_PX) -> bytes:
    """A JPEG of ``name``'s initials in white on a ``colour`` square, ``size_px`` wide."""
    img = Image.new("RGB", (size_px, size_px), colour)
    draw = ImageDraw.Draw(img)
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    try:
        font = ImageFont.load_default(size=size_px // 3)  # Aileron, built into Pillow >= 10.1 (needs FreeType)
    except (OSError, ImportError):
        font = ImageFont.load_default()
    draw.text((size_px / 2, size_px / 2), initials(name), fill="white", font=font, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


class DemoPhotoServer:
    """Serves one generated avatar per ``people`` key (key -> display name) at ``<base_url>/<key>.jpg``; any
    other path is a 404. Binds 127.0.0.1 only."""

    def __init__(self, people: Mapping[str, str]) -> None:
        self.images: dict[str, bytes] = {
            f"{key}.jpg": avatar_jpeg(name, PALETTE[i % len(PALETTE)]) for i, (key, name) in enumerate(people.items())
        }
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.requests = 0
        """How many photo requests were answered (any status): the demo's log and tests read it."""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/fotos`` (after :meth:`start`); a member's URL is ``base_url + "/<key>.jpg"``."""
        if self._httpd is None:
            raise RuntimeError("DemoPhotoServer not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{PATH_PREFIX.rstrip('/')}"

    def start(self) -> DemoPhotoServer:
        """Bind a free port on 127.0.0.1 and serve on a daemon thread. Raises ``OSError``. Returns ``self``."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "AvisoDemoPhotos/1"

            def do_GET(self) -> None:
                with owner._lock:
                    owner.requests += 1
                path = unquote(urlsplit(self.path).path)
                body = owner.images.get(path[len(PATH_PREFIX) :]) if path.startswith(PATH_PREFIX) else None
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "max-age=86400")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the demo's console stays readable

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="demo-photos", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (waits up to 2 s for the loop). Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
