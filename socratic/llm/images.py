"""Images in LLM requests: content hashes, checks, and data URLs computed once per run.

Every image sent to an LLM is identified by a content hash (:func:`image_digest`): the SHA-256
of a file's bytes, or of a PIL image's pixels (with its size and mode). Cache keys and replay
files hold that hash, never the bytes. A file's hash is remembered by path, size and
modification time, so a dataset that repeats an image reads it once.

API backends send images as ``data:`` URLs (:func:`data_url`). A file that is already PNG, JPEG,
GIF or WebP, within ``max_side`` and ``max_bytes``, is sent byte for byte (no decode, no
re-encode); anything else is decoded, shrunk to ``max_side`` (the longer side) and encoded as
PNG (JPEG for JPEG sources). The base64 text of one image with one set of options is computed
once per process and kept in a bounded memo (:data:`MEMO_BYTES`), so n samples, re-asks and
rows that share the image never encode it again.

Bad images fail their own request with one clear message: a missing or unreadable file, or an
image over ``max_pixels`` (checked from the header, before decoding).

Example:
    >>> from PIL import Image as PILImage
    >>> from socratic.types import Image
    >>> img = Image(pil=PILImage.new("RGB", (800, 400), "red"))
    >>> image_digest(img).startswith("sha256:")
    True
    >>> enc = data_url(img, max_side=200)
    >>> enc.url[:22], enc.size
    ('data:image/png;base64,', (200, 100))
    >>> data_url(img, max_side=200) is enc     # computed once
    True
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..errors import SocraticError
from ..types import Image

#: most bytes of base64 text kept in the data-URL memo (oldest entries leave first)
MEMO_BYTES = 256 * 1024 * 1024
#: the default cap on pixels of one image (checked before decoding)
MAX_PIXELS = 50_000_000
_SENDABLE = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


class ImageError(SocraticError):
    """An image that cannot be sent: missing, unreadable, or too large.

    Example:
        >>> str(ImageError("image file not found: x.png"))
        'image file not found: x.png'
    """


@dataclass(frozen=True)
class EncodedImage:
    """An image ready for an API: its ``data:`` URL, content hash and the size sent."""

    url: str
    digest: str
    size: tuple[int, int]


class _LRU:
    """A thread-safe LRU memo bounded by entry count or by a weight per entry."""

    def __init__(self, limit: int, weigh: Any = None) -> None:
        self.limit, self.weigh = limit, weigh or (lambda v: 1)
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.used = 0
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            value = self.data.get(key)
            if value is not None:
                self.data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> Any:
        with self.lock:
            if key in self.data:
                return self.data[key]
            self.data[key] = value
            self.used += self.weigh(value)
            while self.used > self.limit and len(self.data) > 1:
                _, old = self.data.popitem(last=False)
                self.used -= self.weigh(old)
            return value

    def clear(self) -> None:
        with self.lock:
            self.data.clear()
            self.used = 0


_digests = _LRU(200_000)
_urls = _LRU(MEMO_BYTES, weigh=lambda e: len(e.url))
encode_count = 0  # how many data URLs were computed (benchmarks and tests read it)


def _stat_key(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"image file not found: {path}") from None
    except OSError as exc:
        raise ImageError(f"cannot read image {path}: {exc.strerror}") from None
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ImageError(f"image file not found: {path}") from None
    except OSError as exc:
        raise ImageError(f"cannot read image {path}: {exc.strerror}") from None


def image_digest(image: Any) -> str:
    """``sha256:<hex>`` of an image file's bytes, or of a PIL image's pixels, size and mode.

    Example:
        >>> from PIL import Image as PILImage
        >>> a = Image(pil=PILImage.new("RGB", (4, 4), "red"))
        >>> b = Image(pil=PILImage.new("RGB", (4, 4), "red"))
        >>> image_digest(a) == image_digest(b)
        True
    """
    image = Image.from_value(image)
    if image.path is not None:
        if image.url is not None:
            return "url:" + image.url
        key = _stat_key(image.path)
        found = _digests.get(key)
        if found is None:
            found = _digests.put(key, "sha256:" + hashlib.sha256(_read(image.path)).hexdigest())
        return found
    pil = image.pil()
    cached = image.cached_digest
    if cached is None:
        h = hashlib.sha256(repr((pil.size, pil.mode)).encode())
        h.update(pil.tobytes())
        cached = image.cached_digest = "sha256:" + h.hexdigest()
    return cached


def check_size(width: int, height: int, where: str, max_pixels: int | None) -> None:
    """An image over ``max_pixels`` is refused before it is decoded."""
    if max_pixels and width * height > max_pixels:
        raise ImageError(
            f"image {where} is {width}x{height} = {width * height:,} pixels, over the limit of"
            f" {max_pixels:,} (raise max_image_pixels, or shrink the image)"
        )


def open_pil(image: Any, max_pixels: int | None = MAX_PIXELS) -> Any:
    """The image as an RGB PIL image, refusing one over ``max_pixels`` before decoding it."""
    image = Image.from_value(image)
    if image.url is not None:
        raise ImageError(f"image {image.url} is a URL: only API backends can send it (no downloads)")
    if image.path is None:
        pil = image.pil()
        check_size(*pil.size, "<PIL image>", max_pixels)
        return pil
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    _stat_key(image.path)
    try:
        with PILImage.open(image.path) as im:
            check_size(*im.size, image.path, max_pixels)
            return im.convert("RGB")
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"cannot read image {image.path}: {exc}") from None
    except PILImage.DecompressionBombError as exc:
        raise ImageError(f"image {image.path} refused: {exc}") from None


def data_url(
    image: Any,
    *,
    max_side: int | None = None,
    max_bytes: int | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> EncodedImage:
    """The ``data:`` URL of an image (memoised per content and options; see the module doc)."""
    global encode_count
    image = Image.from_value(image)
    if image.url is not None:
        return EncodedImage(image.url, "url:" + image.url, (0, 0))
    digest = image_digest(image)
    key = (digest, max_side, max_bytes)
    found = _urls.get(key)
    if found is not None:
        return found
    encoded = _encode(image, digest, max_side, max_bytes, max_pixels)
    encode_count += 1
    return _urls.put(key, encoded)


def _encode(image: Image, digest: str, max_side: int | None, max_bytes: int | None,
            max_pixels: int | None) -> EncodedImage:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    where = image.path or "<PIL image>"
    if image.path is not None:
        raw = _read(image.path)
        try:
            with PILImage.open(io.BytesIO(raw)) as im:
                fmt, size = im.format, im.size
                check_size(*size, where, max_pixels)
                fits = max_side is None or max(size) <= max_side
                if fmt in _SENDABLE and fits and (max_bytes is None or len(raw) <= max_bytes):
                    return EncodedImage(_url(_SENDABLE[fmt], raw), digest, size)
                pil = im.convert("RGB") if im.mode not in ("RGB", "L", "RGBA") else im.copy()
        except ImageError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"cannot read image {where}: {exc}") from None
    else:
        pil, fmt = image.pil(), "PNG"
        check_size(*pil.size, where, max_pixels)
    if max_side is not None and max(pil.size) > max_side:
        scale = max_side / max(pil.size)
        new = (max(1, round(pil.size[0] * scale)), max(1, round(pil.size[1] * scale)))
        pil = pil.resize(new, PILImage.Resampling.LANCZOS)
    out_fmt = "JPEG" if fmt == "JPEG" else "PNG"
    if out_fmt == "JPEG" and pil.mode != "RGB":
        pil = pil.convert("RGB")
    buf = io.BytesIO()
    pil.save(buf, format=out_fmt, **({"quality": 90} if out_fmt == "JPEG" else {}))
    raw = buf.getvalue()
    if max_bytes is not None and len(raw) > max_bytes:
        raise ImageError(
            f"image {where} is {len(raw):,} bytes once encoded ({pil.size[0]}x{pil.size[1]}), over"
            f" max_image_bytes {max_bytes:,}: set max_side to shrink it before sending"
        )
    return EncodedImage(_url(_SENDABLE[out_fmt], raw), digest, pil.size)


def _url(mime: str, raw: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode("ascii")


def decode_data_url(url: str) -> Image:
    """A ``data:image/...;base64,`` URL as an :class:`Image` (for messages coming from outside).

    Example:
        >>> enc = data_url(Image(pil=__import__("PIL.Image").Image.new("RGB", (2, 2))))
        >>> decode_data_url(enc.url).pil().size
        (2, 2)
    """
    from PIL import Image as PILImage

    head, sep, payload = url.partition(",")
    if not (sep and head.startswith("data:image/") and head.endswith(";base64")):
        raise ImageError(f"not a base64 image data URL: {url[:60]!r}")
    try:
        raw = base64.b64decode(payload, validate=True)
        pil = PILImage.open(io.BytesIO(raw))
        pil.load()
    except Exception as exc:
        raise ImageError(f"cannot read the image in a data URL: {exc}") from None
    return Image(pil=pil)


def clear_memo() -> None:
    """Forget remembered hashes and data URLs (tests and benchmarks)."""
    global encode_count
    _digests.clear()
    _urls.clear()
    encode_count = 0
