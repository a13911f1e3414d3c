"""How synthetic scenes look: object colours and textures, and the cluttered background."""

from __future__ import annotations

import math

import numpy as np

from .shapes import SHAPES, new_shape, render_window

#: Named colours (RGB) for objects; the name is used in questions.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (40, 165, 60),
    "blue": (35, 75, 215),
    "yellow": (240, 215, 35),
    "orange": (245, 135, 25),
    "purple": (135, 55, 185),
    "pink": (245, 120, 185),
    "cyan": (35, 200, 215),
    "white": (240, 240, 240),
    "black": (20, 20, 20),
    "brown": (125, 75, 35),
}
COLOUR_NAMES = tuple(COLOURS)
TEXTURES = ("solid", "stripes", "checker", "dots", "noise", "gradient")


def texture(rng: np.random.Generator, size: int) -> tuple:
    """Draw a random texture: ``(kind, params)``; evaluated at pixels by :func:`pattern`."""
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    if kind == "solid":
        return (kind,)
    ang = float(rng.uniform(0, np.pi))
    period = float(rng.uniform(3, 9) * size / 128)
    if kind == "stripes":
        return (kind, ang, period, float(rng.uniform(0, 2 * np.pi)))
    if kind == "noise":
        cell = int(rng.integers(2, 6))
        n = -(-size // cell)
        return (kind, cell, rng.random((n, n), dtype=np.float32))
    return (kind, ang, period)


def pattern(tex: tuple, ys: np.ndarray, xs: np.ndarray, size: int) -> np.ndarray:
    """Texture values in [0, 1] (float32) at pixels ``(ys, xs)`` (1-D integer arrays)."""
    kind = tex[0]
    if kind == "solid":
        return np.zeros(ys.shape, np.float32)
    if kind == "noise":
        _, cell, grid = tex
        return grid[ys // cell, xs // cell]
    x = xs.astype(np.float32) + np.float32(0.5)
    y = ys.astype(np.float32) + np.float32(0.5)
    ang, period = tex[1], np.float32(tex[2])
    if kind == "checker":
        return ((np.floor(x / period) + np.floor(y / period)) % 2).astype(np.float32)
    if kind == "dots":
        w = np.float32(2 * np.pi) / period
        return ((np.sin(x * w) * np.sin(y * w)) > 0.45).astype(np.float32)
    proj = x * np.float32(math.cos(ang)) + y * np.float32(math.sin(ang))
    if kind == "stripes":
        return (np.sin(proj * (np.float32(2 * np.pi) / period) + np.float32(tex[3])) > 0).astype(np.float32)
    # gradient across the object
    p = proj - proj.min()
    return p / max(float(p.max()), 1e-6)


def appearance(rng: np.random.Generator, colour: str, size: int) -> tuple:
    """(c1, c2, texture): the named colour jittered, a shade of it, and a texture."""
    c1 = np.clip(np.array(COLOURS[colour], np.float32) + rng.uniform(-18, 18, 3), 0, 255).astype(np.float32)
    if colour == "black":
        c2 = c1 + np.float32(rng.uniform(30, 60))
    elif rng.random() < 0.5:
        c2 = c1 * np.float32(rng.uniform(0.5, 0.75))
    else:
        c2 = c1 + (255 - c1) * np.float32(rng.uniform(0.3, 0.5))
    return c1, c2.astype(np.float32), texture(rng, size)


def paint(img: np.ndarray, mask: np.ndarray, app) -> None:
    """Paint ``mask`` of ``img`` (float32, channel-first (3, S, S)) with ``c1 + (c2 - c1) * pattern``."""
    c1, c2, tex = app
    ys, xs = np.nonzero(mask)
    p = pattern(tex, ys, xs, img.shape[1])[None, :]
    img[:, ys, xs] = c1[:, None] + (c2 - c1)[:, None] * p


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted gradient with smooth low-frequency variation and clutter (small faint shapes and
    thin lines); float32, channel-first ``(3, size, size)``. Built from outer sums/products of 1-D profiles."""
    c = np.arange(size, dtype=np.float32) + np.float32(0.5)
    ca = rng.uniform(60, 200, 3).astype(np.float32)
    cb = np.clip(ca + rng.uniform(-50, 50, 3), 0, 255).astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    gx = c * np.float32(math.cos(ang) / (size * 1.5))
    gy = c * np.float32(math.sin(ang) / (size * 1.5)) + np.float32(0.5)
    g = np.clip(gy[:, None] + gx[None, :], 0, 1)
    img = ca[:, None, None] + (cb - ca)[:, None, None] * g[None]  # channel-first: fast broadcasting
    # smooth variation: a few random plane waves, sin(ax + by + p) = sin(ax)cos(by + p) + cos(ax)sin(by + p)
    low = np.zeros((size, size), np.float32)
    for _ in range(3):
        fx, fy = rng.uniform(-3, 3, 2) * (2 * np.pi / size)
        px, py = c * np.float32(fx), c * np.float32(fy) + np.float32(rng.uniform(0, 2 * np.pi))
        low += np.cos(py)[:, None] * np.sin(px)[None, :] + np.sin(py)[:, None] * np.cos(px)[None, :]
    img += (low * np.float32(rng.uniform(4, 12)))[None]
    # clutter: faint small shapes
    for _ in range(int(rng.integers(2, 7))):
        s = new_shape(rng, SHAPES[int(rng.integers(len(SHAPES)))], rng.uniform(0.02, 0.06) * size)
        s.cx, s.cy = rng.uniform(0, size, 2)
        win, m, _ = render_window(s, size)
        if win is not None:
            sub = img[(slice(None), *win)]
            ys, xs = np.nonzero(m)
            sub[:, ys, xs] = sub[:, ys, xs] * np.float32(0.6) + np.float32(0.4) * rng.uniform(40, 220, (3, 1)).astype(
                np.float32
            )
    # clutter: a few thin lines
    for _ in range(int(rng.integers(0, 4))):
        ang = rng.uniform(0, np.pi)
        d = np.abs(
            (c * np.float32(math.sin(ang)) - np.float32(rng.uniform(0, size)))[:, None]
            + (c * np.float32(math.cos(ang)))[None, :]
        )
        m = d <= rng.uniform(0.4, 1.2)
        ys, xs = np.nonzero(m)
        img[:, ys, xs] = img[:, ys, xs] * np.float32(0.5) + np.float32(0.5) * rng.uniform(40, 220, (3, 1)).astype(
            np.float32
        )
    return img
