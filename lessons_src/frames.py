"""The frames a live (ipympl) figure sends to the browser, encoded in a third of the time.

ipympl sends every redraw as a PNG: the whole figure, or only the pixels that changed (the rest transparent).
matplotlib encodes it with Pillow's defaults (an adaptive filter per row, zlib level 6): about 12 ms for lesson
13's 620 × 460 slice, a quarter of a frame's 50 ms budget. :func:`png_bytes` writes the same pixels with no
row filter and zlib level 1 in about 3.5 ms, for a PNG 6–15 % larger, which costs nothing on the way from
the kernel to a browser on the same machine or network. :func:`send_fast_frames` makes a canvas use it.
"""

from __future__ import annotations

import struct
import types
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZLIB_LEVEL = 1  # fastest; Pillow's filters and level 6 save 6–15 % of the bytes for 3× the time


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(rgba: np.ndarray, level: int = ZLIB_LEVEL) -> bytes:
    """``rgba`` (height × width × 4, uint8) as a PNG file: 8-bit RGBA, rows unfiltered, zlib at ``level``."""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"rgba must be a (height, width, 4) uint8 array, got {rgba.dtype} {rgba.shape}")
    height, width, _ = rgba.shape
    rows = np.empty((height, 1 + 4 * width), np.uint8)
    rows[:, 0] = 0  # each row starts with its filter type: 0, none
    rows[:, 1:] = rgba.reshape(height, 4 * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, colour type 6 (RGBA), no interlace
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
            + _chunk(b"IEND", b""))


def diff_image(canvas) -> bytes | None:
    """What ``FigureCanvasWebAggCore.get_diff_image`` (matplotlib 3.8–3.11) returns, encoded by :func:`png_bytes`:
    the whole figure when a full frame is due, else only the changed pixels over transparent ones; None when the
    last frame is still current. tests/test_frames.py checks it against matplotlib's own, pixel for pixel."""
    if not canvas._png_is_old:
        return None
    pixels = np.asarray(canvas.get_renderer().buffer_rgba())
    buff = pixels.view(np.uint32).squeeze(2)  # a pixel per uint32: one comparison per pixel
    if canvas._force_full or buff.shape != canvas._last_buff.shape or (pixels[:, :, 3] != 255).any():
        canvas.set_image_mode("full")
        output = buff
    else:
        canvas.set_image_mode("diff")
        output = np.where(buff != canvas._last_buff, buff, 0)
    canvas._last_buff = buff.copy()
    canvas._force_full = False
    canvas._png_is_old = False
    return png_bytes(output.view(np.uint8).reshape(*output.shape, 4))


def send_fast_frames(canvas) -> None:
    """Make ``canvas`` (a web canvas: ipympl's, or matplotlib's WebAgg) encode its frames with :func:`png_bytes`;
    any other canvas is left as it is."""
    if hasattr(canvas, "get_diff_image") and hasattr(canvas, "_png_is_old"):
        canvas.get_diff_image = types.MethodType(diff_image, canvas)
