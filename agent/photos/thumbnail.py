"""Photo bytes -> a small square PNG thumbnail, with Pillow. Pure (bytes in, bytes out); any thread.

Only real images pass: the bytes are decoded (not trusted by their name or Content-Type), the EXIF orientation is
applied (:func:`PIL.ImageOps.exif_transpose`), the picture is centre-cropped to a square and re-encoded, so a
notifier never receives the original bytes (no EXIF/GPS metadata, no odd formats, no decoder surprises later).
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings

from PIL import Image, ImageOps

SIZE_PX = 128
"""Side of the square thumbnail, pixels."""
MAX_PIXELS = 64_000_000
"""Largest JPEG accepted (width x height): a 5 MB file can claim gigapixels (a "decompression bomb"; Pillow's own
guard, ``Image.MAX_IMAGE_PIXELS``, only warns below twice its 89 M default). A JPEG is decoded at 1/8 scale or
less (``draft``), so even this costs a few MB: measured here, a 48 MP JPEG (a phone's full-resolution mode) in
0.09 s, 108 MP in 0.33 s. 64 MP takes a 50 MP phone photo (8160x6120). Phones' multi-picture JPEGs (MPO: a
JPEG with a second image or depth map appended) are JPEGs for this bound and for the reduced-scale decode."""
MAX_PIXELS_FULL_DECODE = 16_000_000
"""Largest picture of the other formats (PNG, GIF, WebP, BMP, TIFF), which Pillow can only decode at full size:
measured here, a 154 KB 6300x6300 PNG (under the JPEG bound) took 1.8 s and 460 MB of memory to thumbnail, and
three pool threads would triple that. 16 MP (a 4600x3450 picture, more than a 12 MP phone photo) costs about a
third of it."""
BIG_DECODE_PX = 2_000_000
"""Full decodes above this many pixels run one at a time in the process (:data:`_BIG_DECODE`), so the pool's
threads never hold several such pictures in memory at once."""
_BIG_DECODE = threading.Lock()
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
"""Formats a gym's software serves for photos; anything else Pillow might decode is refused."""


_NO_LOCK = contextlib.nullcontext()


class NotAnImage(ValueError):
    """The bytes are not a picture this module accepts; ``str()`` says why (no image bytes in it)."""


def make_thumbnail(data: bytes, size_px: int = SIZE_PX) -> bytes:
    """The PNG bytes of a ``size_px`` square thumbnail of the picture in ``data``.

    Raises :class:`NotAnImage` when ``data`` is not a decodable picture of :data:`FORMATS` or is too large.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as img:
                width, height = img.size
                jpeg = img.format in ("JPEG", "MPO")  # MpoImageFile is a JpegImageFile: draft works
                limit = MAX_PIXELS if jpeg else MAX_PIXELS_FULL_DECODE
                if width <= 0 or height <= 0 or width * height > limit:
                    raise NotAnImage(f"{img.format} picture of {width}x{height} pixels refused")
                if jpeg:
                    img.draft("RGB", (size_px * 2, size_px * 2))  # decode at a reduced scale: fast, less memory
                big = not jpeg and width * height > BIG_DECODE_PX
                with _BIG_DECODE if big else _NO_LOCK:
                    img.load()
                    upright = ImageOps.exif_transpose(img)
                    rgba = upright.convert("RGBA")
                    del upright
                    square = ImageOps.fit(rgba, (size_px, size_px), method=Image.Resampling.LANCZOS)
                    del rgba
    except NotAnImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow raises UnidentifiedImageError (an OSError) for unknown data, OSError/SyntaxError/ValueError for
        # truncated or corrupt files.
        raise NotAnImage(f"not a usable picture ({type(exc).__name__})") from None
    out = io.BytesIO()
    square.save(out, format="PNG", optimize=True)
    return out.getvalue()
