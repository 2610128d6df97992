"""A hand-made CLIP for the shapes world, registered as backend ``shapes_clip`` by the tests that
use it: the text tower averages a fixed random vector per word (seeded by the word), the image
tower finds the drawn shape (pixels far from the pale background), reads its colour (nearest of
the four) and its shape (how much of its box it fills: square 1, circle 0.79, triangle 0.5) and
returns the mean of those two words' vectors plus seeded noise. It knows the words "red",
"circle", ... and nothing else: class names like "fire engine" mean nothing to it, descriptors
made of colour and shape words do, and descriptors about things the picture cannot show only add
noise. It needs no training, so tuning tests run in seconds."""

from __future__ import annotations

import re
import zlib
from typing import Any

import numpy as np

from socratic.vision.clip_base import ClipModel

DIM = 64
COLORS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 225), "yellow": (235, 205, 20)}
FILL = {"square": 1.0, "circle": 0.785, "triangle": 0.5}


def word_vector(word: str) -> np.ndarray:
    v = np.random.default_rng(zlib.crc32(word.encode())).standard_normal(DIM)
    return v / np.linalg.norm(v)


class ShapesClip(ClipModel):
    backend = "shapes_clip"

    def _load(self) -> Any:
        return True

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        out = []
        for text in texts:
            words = re.findall(r"[a-z]+", text.lower()) or ["empty"]
            out.append(np.mean([word_vector(w) for w in words], axis=0))
        return np.stack(out)

    def _encode_images(self, images: list[Any]) -> np.ndarray:
        out = []
        for im in images:
            px = np.asarray(im.convert("RGB"), dtype=np.float32)
            mask = (px.min(axis=2) < 200)  # the background is 225-250 in every channel
            ys, xs = np.nonzero(mask)
            mean = px[mask].mean(axis=0)
            color = min(COLORS, key=lambda c: float(np.sum((mean - np.array(COLORS[c])) ** 2)))
            fill = mask.sum() / max(1, (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
            shape = min(FILL, key=lambda s: abs(FILL[s] - fill))
            noise = np.random.default_rng(int(px.sum()) % (2**32)).standard_normal(DIM) * 0.15
            out.append((word_vector(color) + word_vector(shape)) / 2 + noise)
        return np.stack(out)

    def cache_identity(self) -> str | None:
        return None
