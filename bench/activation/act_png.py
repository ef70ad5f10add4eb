"""A tiny PNG plot without matplotlib: numpy raster, a 3x5 bitmap font, zlib, and the PNG chunk format."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

# 3x5 glyphs, rows top to bottom, bits left to right.
_FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "+": "000010111010000", "-": "000000111000000",
    "%": "101001010100101", ".": "000000000000010", " ": "000000000000000", "/": "001001010100100",
    "A": "010101111101101", "B": "110101110101110", "C": "111100100100111", "D": "110101101101110",
    "E": "111100110100111", "F": "111100110100100", "H": "101101111101101", "I": "111010010010111",
    "L": "100100100100111", "N": "101111111111101", "O": "111101101101111", "P": "111101111100100",
    "R": "110101110101101", "S": "111100111001111", "T": "111010010010010", "V": "101101101101010",
    "W": "101101111111101", "Y": "101101010010010", "K": "101110100110101", "G": "111100101101111",
    "M": "101111111101101", "U": "101101101101111", "X": "101101010101101", "(": "010100100100010",
    ")": "010001001001010", ",": "000000000010100", ":": "000010000010000", "=": "000111000111000",
}


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an (h, w, 3) uint8 image as an 8-bit RGB PNG."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                           + chunk(b"IEND", b""))


class Canvas:
    """An RGB raster with lines, boxes and text in pixel coordinates (y down)."""

    def __init__(self, width: int, height: int) -> None:
        self.img = np.full((height, width, 3), 255, dtype=np.uint8)

    def box(self, x0: float, y0: float, x1: float, y1: float, color: tuple[int, int, int]) -> None:
        h, w, _ = self.img.shape
        xa, xb = sorted((int(round(x0)), int(round(x1))))
        ya, yb = sorted((int(round(y0)), int(round(y1))))
        self.img[max(ya, 0):min(yb + 1, h), max(xa, 0):min(xb + 1, w)] = color

    def line(self, x0: float, y0: float, x1: float, y1: float, color: tuple[int, int, int], width: int = 1) -> None:
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for t in np.linspace(0.0, 1.0, steps):
            x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            self.box(x - width // 2, y - width // 2, x + (width - 1) // 2, y + (width - 1) // 2, color)

    def text(self, x: float, y: float, text: str, color: tuple[int, int, int] = (0, 0, 0), scale: int = 2) -> None:
        """Upper-case text with its top-left corner at (x, y); unknown characters are blank."""
        for k, char in enumerate(text.upper()):
            glyph = _FONT.get(char, _FONT[" "])
            for i, bit in enumerate(glyph):
                if bit == "1":
                    gx, gy = x + (k * 4 + i % 3) * scale, y + (i // 3) * scale
                    self.box(gx, gy, gx + scale - 1, gy + scale - 1, color)

    def text_width(self, text: str, scale: int = 2) -> int:
        return len(text) * 4 * scale


def lift_plot(path: Path, half_lives: list[float], lift: list[float], low: list[float], high: list[float],
              rate_batch: list[float], rate_event: list[float], title: str) -> None:
    """Left: lift (%) with its interval against the half-life (log axis). Right: conversions per 1,000 actions."""
    canvas = Canvas(960, 420)
    canvas.text(20, 12, title, scale=2)
    xs = np.log(np.asarray(half_lives, dtype=float))
    xmin, xmax = xs.min() - 0.3, xs.max() + 0.3
    panels = [
        (60, 60, 440, 360, [v for v in low + high + [0.0] if np.isfinite(v)], "LIFT % (EVENT VS WEEKLY), 95% CI"),
        (540, 60, 920, 360, [v for v in rate_batch + rate_event + [0.0] if np.isfinite(v)], "CREDITED PER 1000 ACTIONS"),
    ]
    for index, (left, top, right, bottom, values, label) in enumerate(panels):
        lo, hi = min(values), max(values)
        pad = 0.08 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad

        def px(x: float, _l=left, _r=right) -> float:
            return _l + (x - xmin) / (xmax - xmin) * (_r - _l)

        def py(v: float, _t=top, _b=bottom, _lo=lo, _hi=hi) -> float:
            return _b - (v - _lo) / (_hi - _lo) * (_b - _t)

        canvas.text(left, top - 22, label, scale=2)
        canvas.line(left, bottom, right, bottom, (0, 0, 0))
        canvas.line(left, top, left, bottom, (0, 0, 0))
        for tick in np.linspace(lo, hi, 5):
            canvas.line(left - 4, py(tick), left, py(tick), (0, 0, 0))
            label_text = f"{tick:.0f}"
            canvas.text(left - 6 - canvas.text_width(label_text, 1), py(tick) - 2, label_text, scale=1)
        if lo < 0 < hi:
            canvas.line(left, py(0.0), right, py(0.0), (170, 170, 170))
        for x, hl in zip(xs, half_lives):
            canvas.line(px(x), bottom, px(x), bottom + 4, (0, 0, 0))
            text = f"{hl:g}"
            canvas.text(px(x) - canvas.text_width(text, 2) / 2, bottom + 8, text, scale=2)
        canvas.text((left + right) / 2 - canvas.text_width("HALF-LIFE (DAYS)", 2) / 2, bottom + 30, "HALF-LIFE (DAYS)")
        if index == 0:
            series = [((200, 30, 30), lift, low, high)]
        else:
            series = [((60, 60, 200), rate_batch, None, None), ((200, 30, 30), rate_event, None, None)]
            canvas.box(right - 150, top - 22, right - 140, top - 14, (60, 60, 200))
            canvas.text(right - 134, top - 22, "WEEKLY", scale=2)
            canvas.box(right - 70, top - 22, right - 60, top - 14, (200, 30, 30))
            canvas.text(right - 54, top - 22, "EVENT", scale=2)
        for color, ys, lows, highs in series:
            points = [(px(x), py(y)) for x, y in zip(xs, ys) if np.isfinite(y)]
            for (xa, ya), (xb, yb) in zip(points, points[1:]):
                canvas.line(xa, ya, xb, yb, color, width=2)
            for (x, y) in points:
                canvas.box(x - 3, y - 3, x + 3, y + 3, color)
            if lows is not None and highs is not None:
                for x, a, b in zip(xs, lows, highs):
                    if np.isfinite(a) and np.isposinf(b):  # unbounded above: a bar to the top of the panel
                        canvas.line(px(x), py(a), px(x), top, color)
                        canvas.line(px(x) - 5, py(a), px(x) + 5, py(a), color)
                    elif np.isfinite(a) and np.isfinite(b):
                        canvas.line(px(x), py(a), px(x), py(b), color)
                        canvas.line(px(x) - 5, py(a), px(x) + 5, py(a), color)
                        canvas.line(px(x) - 5, py(b), px(x) + 5, py(b), color)
    write_png(path, canvas.img)
