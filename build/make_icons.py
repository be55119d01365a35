"""Regenerate the tray state icons and the app icon in ``assets/`` with Pillow.

    .venv/bin/python build/make_icons.py

Writes ``assets/tray-<state>.png`` (64 px) and ``.ico`` (16-256 px) for the states connected, connecting, paused
error, degraded (notifications fail) and quiet (warnings-only mode), plus ``assets/app.png``/``app.ico`` (the AUMID, notification and executable icon) and ``assets/status-<tone>.png``
(64 px: the per-status notice icon for green / red / amber / blue tones, ``agent.desk.wiring.tone_icon``). Drawn at 256 px and
downsampled, so small sizes stay smooth. Deterministic: the same Pillow version writes the same files.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SIZE = 256
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]
COLORS = {
    "connected": (46, 125, 50),  # green
    "connecting": (245, 166, 35),  # amber
    "paused": (84, 110, 122),  # blue grey
    "error": (198, 40, 40),  # red
    "degraded": (230, 81, 0),  # deep orange: connected, but notifications fail
    "quiet": (46, 125, 50),  # green with a filter mark: warnings-only mode
}
WHITE = (255, 255, 255, 255)


def _person(d: ImageDraw.ImageDraw, scale: float = 1.0, dx: int = 0) -> None:
    """A walking figure passing a turnstile bar."""
    s = scale
    cx = 128 + dx
    d.ellipse((cx - 22 * s, 40 * s + 10, cx + 22 * s, 84 * s + 10), fill=WHITE)  # head
    d.rounded_rectangle((cx - 30 * s, 96, cx + 30 * s, 170), radius=int(22 * s), fill=WHITE)  # body
    d.rounded_rectangle((cx - 28 * s, 160, cx - 6 * s, 214), radius=10, fill=WHITE)  # legs
    d.rounded_rectangle((cx + 6 * s, 160, cx + 28 * s, 214), radius=10, fill=WHITE)
    d.rounded_rectangle((36, 128, 220, 146), radius=9, fill=(255, 255, 255, 200))  # turnstile bar


def draw(state: str) -> Image.Image:
    """The 256 px image for ``state``."""
    img = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.ellipse((6, 6, SIZE - 6, SIZE - 6), fill=(*COLORS[state], 255), outline=(255, 255, 255, 255), width=10)
    if state == "paused":
        d.rounded_rectangle((78, 64, 116, 192), radius=10, fill=WHITE)
        d.rounded_rectangle((140, 64, 178, 192), radius=10, fill=WHITE)
    elif state == "error":
        d.rounded_rectangle((110, 46, 146, 160), radius=14, fill=WHITE)
        d.ellipse((108, 176, 148, 216), fill=WHITE)
    elif state == "degraded":  # a speech bubble crossed out: the notices do not get through
        d.rounded_rectangle((54, 62, 202, 168), radius=28, fill=WHITE)
        d.polygon([(92, 160), (78, 210), (136, 164)], fill=WHITE)
        d.line((58, 206, 206, 50), fill=(*COLORS[state], 255), width=30)
        d.line((58, 206, 206, 50), fill=WHITE, width=12)
    else:
        _person(d)
        if state == "quiet":  # a funnel badge: only warnings pass
            d.ellipse((150, 150, 250, 250), fill=(255, 193, 7, 255), outline=WHITE, width=8)
            d.polygon([(170, 172), (230, 172), (206, 202), (206, 232), (194, 226), (194, 202)], fill=(60, 40, 0, 255))
        if state == "connecting":
            for i, x in enumerate((92, 128, 164)):
                r = 10 + 3 * i
                d.ellipse((x - r, 226 - r - 10, x + r, 226 + r - 10), fill=(90, 60, 0, 255))
    return img


TONES = {
    "green": (46, 125, 50),  # granted
    "red": (198, 40, 40),  # denied, expired, balance due
    "amber": (245, 166, 35),  # expiring, repeat entry
    "blue": (21, 101, 192),  # birthday, first visit
}


def draw_tone(tone: str) -> Image.Image:
    """The 256 px status icon: the tone's disc with a white mark (tick, cross, exclamation, star)."""
    img = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.ellipse((6, 6, SIZE - 6, SIZE - 6), fill=(*TONES[tone], 255), outline=WHITE, width=10)
    if tone == "green":
        d.line((66, 134, 112, 182, 194, 84), fill=WHITE, width=30, joint="curve")
    elif tone == "red":
        d.line((78, 78, 178, 178), fill=WHITE, width=30)
        d.line((178, 78, 78, 178), fill=WHITE, width=30)
    elif tone == "amber":
        d.rounded_rectangle((110, 46, 146, 160), radius=14, fill=WHITE)
        d.ellipse((108, 176, 148, 216), fill=WHITE)
    else:
        import math

        points = []
        for i in range(10):
            r = 96 if i % 2 == 0 else 40
            a = -math.pi / 2 + i * math.pi / 5
            points.append((128 + r * math.cos(a), 134 + r * math.sin(a)))
        d.polygon(points, fill=WHITE)
    return img


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    for state in COLORS:
        big = draw(state)
        big.resize((64, 64), Image.Resampling.LANCZOS).save(ASSETS / f"tray-{state}.png", optimize=True)
        big.save(ASSETS / f"tray-{state}.ico", sizes=ICO_SIZES)
    for tone in TONES:
        draw_tone(tone).resize((64, 64), Image.Resampling.LANCZOS).save(ASSETS / f"status-{tone}.png", optimize=True)
    app = draw("connected")
    app.resize((128, 128), Image.Resampling.LANCZOS).save(ASSETS / "app.png", optimize=True)
    app.save(ASSETS / "app.ico", sizes=ICO_SIZES)
    print(f"icons written to {ASSETS}")


if __name__ == "__main__":
    main()
