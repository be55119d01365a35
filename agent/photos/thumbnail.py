"""Photo bytes -> a small square PNG thumbnail, with Pillow. Pure (bytes in, bytes out); any thread.

Only real images pass: the bytes are decoded (not trusted by their name or Content-Type), the EXIF orientation is
applied (:func:`PIL.ImageOps.exif_transpose`), the picture is centre-cropped to a square and re-encoded, so a
notifier never receives the original bytes (no EXIF/GPS metadata, no odd formats, no decoder surprises later).
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

SIZE_PX = 128
"""Side of the square thumbnail, pixels."""
MAX_PIXELS = 40_000_000
"""Largest decoded picture accepted (width x height): a 5 MB PNG can claim gigapixels (a "decompression bomb";
Pillow's own guard, ``Image.MAX_IMAGE_PIXELS``, only warns below twice its 89 M default)."""
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
"""Formats a gym's software serves for photos; anything else Pillow might decode is refused."""


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
                if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                    raise NotAnImage(f"picture of {width}x{height} pixels refused")
                if img.format == "JPEG":
                    img.draft("RGB", (size_px * 2, size_px * 2))  # decode at a reduced scale: fast, less memory
                img.load()
                upright = ImageOps.exif_transpose(img)
                rgba = upright.convert("RGBA")
    except NotAnImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow raises UnidentifiedImageError (an OSError) for unknown data, OSError/SyntaxError/ValueError for
        # truncated or corrupt files.
        raise NotAnImage(f"not a usable picture ({type(exc).__name__})") from None
    square = ImageOps.fit(rgba, (size_px, size_px), method=Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, format="PNG", optimize=True)
    return out.getvalue()
