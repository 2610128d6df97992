"""Value types that travel on graph edges, and the type algebra used to check connections.

Socket types are ordinary Python annotations (``str``, ``list[str]``, ``dict[str, float]``,
``Image``, ``Embedding``, ``Optional[int]`` ...). YAML files name them with the same spelling
(``image``, ``list[str]``, ``optional[int]``); :func:`parse_type` reads those names without
``eval`` and :func:`type_name` writes them back.

Connections are checked with :func:`is_assignable`: exact types, ``Optional`` / ``Union``,
parametrised generics and ``int -> float`` widening are accepted; a list is never silently
converted to a scalar or back (fan-out is an explicit ``for_each``).

Example:
    >>> is_assignable(list[str], list[str])
    True
    >>> is_assignable(str, list[str])
    False
    >>> type_name(parse_type("dict[str, list[float]]"))
    'dict[str, list[float]]'
"""

from __future__ import annotations

import hashlib
import os
import re
import types as _pytypes
import typing
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = [
    "Any",
    "Embedding",
    "Image",
    "Message",
    "Messages",
    "Scores",
    "coerce_value",
    "is_assignable",
    "parse_type",
    "type_name",
]


class Image:
    """An image travelling through a graph: a file path, a URL-free reference, or a PIL image.

    The pixels are read lazily (``.pil()``), so graphs can pass thousands of images around
    without holding them in memory. ``key`` identifies the image for caches.

    Example:
        >>> img = Image("photos/cat.jpg")
        >>> img.path
        'photos/cat.jpg'
        >>> Image.from_value("photos/cat.jpg") == img
        True
    """

    __slots__ = ("_pil", "path")

    def __init__(self, path: str | os.PathLike[str] | None = None, *, pil: Any = None) -> None:
        if path is None and pil is None:
            raise ValueError("Image needs a path or a PIL image")
        self.path = os.fspath(path) if path is not None else None
        self._pil = pil

    @classmethod
    def from_value(cls, value: Any) -> Image:
        """Turn a path string, ``{"path": ...}`` mapping, PIL image or Image into an Image."""
        if isinstance(value, Image):
            return value
        if isinstance(value, (str, os.PathLike)):
            return cls(value)
        if isinstance(value, dict) and "path" in value:
            return cls(value["path"])
        if hasattr(value, "convert") and hasattr(value, "size"):
            return cls(pil=value)
        raise TypeError(f"cannot make an image from {type(value).__name__} {value!r:.80}")

    def pil(self) -> Any:
        """Return the image as an RGB ``PIL.Image.Image``; a clear error names a bad file."""
        if self._pil is not None:
            return self._pil.convert("RGB") if self._pil.mode != "RGB" else self._pil
        if self.path is not None and ".tar#" in self.path:  # a sample of a WebDataset shard
            from .webdata import open_image

            return open_image(self.path)
        from PIL import Image as PILImage
        from PIL import UnidentifiedImageError

        from .errors import SocraticError

        try:
            with PILImage.open(self.path) as im:
                return im.convert("RGB")
        except FileNotFoundError:
            raise SocraticError(f"image file not found: {self.path}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise SocraticError(f"cannot read image {self.path}: {exc}") from None

    @property
    def key(self) -> str:
        """A stable identity for caching: path + size + mtime, or a hash of the pixels."""
        if self.path is not None:
            try:
                st = os.stat(self.path)
                return f"{os.path.abspath(self.path)}:{st.st_size}:{st.st_mtime_ns}"
            except OSError:
                return os.path.abspath(self.path)
        im = self._pil
        return "pil:" + hashlib.sha256(im.tobytes() + repr((im.size, im.mode)).encode()).hexdigest()

    def to_json(self) -> Any:
        return self.path if self.path is not None else "<image>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        if self.path is not None or other.path is not None:
            return self.path == other.path
        return self._pil is other._pil

    def __hash__(self) -> int:
        return hash(self.path) if self.path is not None else id(self._pil)

    def __repr__(self) -> str:
        return f"Image({self.path!r})" if self.path is not None else "Image(<PIL>)"


@dataclass(eq=False)
class Embedding:
    """A vector (numpy array or torch tensor) plus the model that produced it.

    Example:
        >>> e = Embedding([0.6, 0.8], model="clip")
        >>> e.tolist()
        [0.6, 0.8]
    """

    vector: Any
    model: str = ""
    normalized: bool = field(default=False)

    def tolist(self) -> list[float]:
        v = self.vector
        if hasattr(v, "detach"):
            v = v.detach().float().cpu().numpy()
        return [float(x) for x in (v.tolist() if hasattr(v, "tolist") else v)]

    def to_json(self) -> Any:
        return {"model": self.model, "vector": self.tolist()}


Scores = dict[str, float]
"""Per-label scores (label -> score)."""

Message = dict[str, str]
"""A chat message: ``{"role": "user", "content": "..."}``."""

Messages = list[Message]
"""A list of chat messages."""


# --------------------------------------------------------------------------- type names

_SIMPLE: dict[str, Any] = {
    "str": str,
    "string": str,
    "text": str,
    "int": int,
    "float": float,
    "bool": bool,
    "any": Any,
    "json": Any,
    "image": Image,
    "embedding": Embedding,
    "scores": Scores,
    "message": Message,
    "messages": Messages,
}
_GENERIC = {"list": list, "dict": dict, "optional": None, "union": None, "tuple": tuple}
_NAMES = {str: "str", int: "int", float: "float", bool: "bool", Image: "image", Embedding: "embedding"}
_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\[|\]|,)")


def parse_type(text: str) -> Any:
    """Parse a YAML type name such as ``list[str]`` or ``optional[image]`` (no ``eval``).

    Example:
        >>> parse_type("list[str]") == list[str]
        True
        >>> parse_type("listt[str]")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: unknown type 'listt' (known: any, bool, dict, embedding, float, image, ...)
    """
    tokens = [m.group(1) for m in _TOKEN.finditer(text)]
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise ValueError(f"cannot read type {text!r}")
    pos = 0

    def parse() -> Any:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"type {text!r} ends early")
        name = tokens[pos].lower()
        pos += 1
        if name not in _SIMPLE and name not in _GENERIC:
            known = ", ".join(sorted({*_SIMPLE, *_GENERIC}))
            raise ValueError(f"unknown type {tokens[pos - 1]!r} (known: {known})")
        if pos < len(tokens) and tokens[pos] == "[":
            if name not in _GENERIC:
                raise ValueError(f"type {name!r} takes no parameters in {text!r}")
            pos += 1
            args = [parse()]
            while pos < len(tokens) and tokens[pos] == ",":
                pos += 1
                args.append(parse())
            if pos >= len(tokens) or tokens[pos] != "]":
                raise ValueError(f"missing ']' in type {text!r}")
            pos += 1
            return _make_generic(name, args, text)
        if name in _GENERIC:
            return {"list": list[Any], "dict": dict[str, Any], "tuple": tuple}.get(name, Any)
        return _SIMPLE[name]

    result = parse()
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos]!r} in type {text!r}")
    return result


def _make_generic(name: str, args: list[Any], text: str) -> Any:
    if name == "list":
        if len(args) != 1:
            raise ValueError(f"list takes one parameter in {text!r}")
        return list[args[0]]
    if name == "dict":
        if len(args) != 2:
            raise ValueError(f"dict takes two parameters in {text!r}")
        return dict[args[0], args[1]]
    if name == "optional":
        if len(args) != 1:
            raise ValueError(f"optional takes one parameter in {text!r}")
        return typing.Optional[args[0]]  # noqa: UP045
    if name == "tuple":
        return tuple[tuple(args)]
    return Union[tuple(args)]  # noqa: UP007


def type_name(tp: Any) -> str:
    """The YAML spelling of a type annotation (the inverse of :func:`parse_type`).

    Example:
        >>> type_name(dict[str, float])
        'dict[str, float]'
        >>> type_name(typing.Optional[int])
        'optional[int]'
    """
    if tp is Any or tp is None:
        return "any"
    if tp is type(None):
        return "none"
    if tp in _NAMES:
        return _NAMES[tp]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return "one of " + "|".join(str(a) for a in args)
    if origin in (Union, _pytypes.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) < len(args) and len(rest) == 1:
            return f"optional[{type_name(rest[0])}]"
        inner = ", ".join(type_name(a) for a in args)
        return f"union[{inner}]"
    if origin in (list, dict, tuple):
        if not args:
            return origin.__name__
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    return getattr(tp, "__name__", repr(tp))


def _union_members(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) in (Union, _pytypes.UnionType):
        return typing.get_args(tp)
    return None


def is_assignable(src: Any, dst: Any) -> bool:
    """Can a value of type ``src`` be connected to a socket of type ``dst``?

    Example:
        >>> is_assignable(int, float), is_assignable(str, typing.Optional[str])
        (True, True)
        >>> is_assignable(list[str], str), is_assignable(typing.Optional[str], str)
        (False, False)
    """
    if dst is Any or src is Any or src == dst:
        return True
    src_members = _union_members(src)
    if src_members is not None:
        return all(is_assignable(m, dst) for m in src_members)
    dst_members = _union_members(dst)
    if dst_members is not None:
        return any(is_assignable(src, m) for m in dst_members)
    s_origin, d_origin = typing.get_origin(src), typing.get_origin(dst)
    if s_origin is not None or d_origin is not None:
        s_origin = s_origin or src
        d_origin = d_origin or dst
        if s_origin is not d_origin:
            return False
        s_args, d_args = typing.get_args(src), typing.get_args(dst)
        if not s_args or not d_args:
            return True
        if len(s_args) != len(d_args):
            return False
        return all(is_assignable(a, b) for a, b in zip(s_args, d_args, strict=True))
    if src is int and dst is float:
        return True
    if src is bool and dst is int:
        return False
    return isinstance(src, type) and isinstance(dst, type) and issubclass(src, dst)


def element_type(tp: Any) -> Any | None:
    """The element type of ``list[T]`` (``Any`` for ``Any``); ``None`` when ``tp`` is no list.

    Example:
        >>> element_type(list[int])
        <class 'int'>
        >>> element_type(str) is None
        True
    """
    if tp is Any:
        return Any
    if typing.get_origin(tp) is list:
        args = typing.get_args(tp)
        return args[0] if args else Any
    return None


def type_at(tp: Any, path: tuple[Any, ...]) -> Any | None:
    """The type of the element at ``path`` (list indexes, mapping keys) inside a value of type
    ``tp``; ``None`` when ``tp`` has no element there.

    Example:
        >>> type_at(dict[str, list[int]], ("a", 0))
        <class 'int'>
        >>> type_at(str, (0,)) is None
        True
    """
    for key in path:
        if tp is Any:
            return Any
        members = _union_members(tp)
        if members is not None:
            found = [t for t in (type_at(m, (key,)) for m in members if m is not type(None)) if t is not None]
            if not found:
                return None
            tp = found[0] if len(found) == 1 else Union[tuple(found)]  # noqa: UP007
            continue
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is list and isinstance(key, int):
            tp = args[0] if args else Any
        elif origin is tuple and isinstance(key, int):
            if len(args) == 2 and args[1] is Ellipsis:
                tp = args[0]
            elif key < len(args):
                tp = args[key]
            else:
                return None
        elif origin is dict and isinstance(key, str):
            tp = args[1] if args else Any
        elif tp in (list, dict, tuple):
            tp = Any
        else:
            return None
    return tp


def leaves(value: Any, skip: set[tuple[Any, ...]], path: tuple[Any, ...] = ()) -> Any:
    """``(path, value)`` of the scalars (and empty containers) in a nested list/mapping, except
    at the paths in ``skip``."""
    if path in skip:
        return
    if isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from leaves(v, skip, (*path, i))
    elif isinstance(value, dict) and value:
        for k, v in value.items():
            yield from leaves(v, skip, (*path, k))
    else:
        yield path, value


def path_text(path: tuple[Any, ...]) -> str:
    """``[0][key]``: where inside a value a path points.

    Example:
        >>> path_text((0, "a"))
        '[0][a]'
    """
    return "".join(f"[{p}]" for p in path)


def coerce_value(value: Any, tp: Any, *, what: str = "value") -> Any:
    """Check (and where safe, convert) a value given from outside for a socket of type ``tp``.

    Strings become images for ``image``; ints become floats; everything else must already have
    the right shape. Used for graph inputs, ``-i`` values and ``--data`` rows.

    Example:
        >>> coerce_value(3, float)
        3.0
        >>> coerce_value("x", list[str], what="input 'classes'")
        Traceback (most recent call last):
        TypeError: input 'classes' expects list[str], got str 'x'
    """
    try:
        return _coerce(value, tp)
    except (TypeError, ValueError):
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise TypeError(
            f"{what} expects {type_name(tp)}, got {type(value).__name__} {shown}"
        ) from None


def _coerce(value: Any, tp: Any) -> Any:
    if tp is Any:
        return value
    members = _union_members(tp)
    if members is not None:
        if value is None and type(None) in members:
            return None
        for m in members:
            if m is type(None):
                continue
            try:
                return _coerce(value, m)
            except (TypeError, ValueError):
                continue
        raise TypeError
    if tp is Image:
        return Image.from_value(value)
    if tp is Embedding:
        if isinstance(value, Embedding):
            return value
        if isinstance(value, list):
            return Embedding([float(x) for x in value])
        raise TypeError
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        (arg,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, arg) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError
        k, v = typing.get_args(tp) or (Any, Any)
        return {_coerce(kk, k): _coerce(vv, v) for kk, vv in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        return tuple(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if tp is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise TypeError
    return value


def parse_cli_value(text: str, tp: Any, *, what: str) -> Any:
    """Parse a command-line string (``-i NAME=VALUE``) into a value of type ``tp``.

    Strings and images are taken as-is; everything else is read as YAML (so ``[a, b]`` is a
    list and ``3`` an int) and then checked.

    Example:
        >>> parse_cli_value("[cat, dog]", list[str], what="input 'classes'")
        ['cat', 'dog']
    """
    import yaml

    if tp is str or tp is Image:
        return coerce_value(text, tp, what=what)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    try:
        return coerce_value(value, tp, what=what)
    except TypeError:
        if value != text and is_assignable(str, tp):  # "true" for an optional[str] is text
            return coerce_value(text, tp, what=what)
        raise


def to_jsonable(value: Any) -> Any:
    """Convert graph values (images, embeddings, numpy) to JSON-friendly data.

    Example:
        >>> to_jsonable({"img": Image("a.png"), "xs": (1, 2)})
        {'img': 'a.png', 'xs': [1, 2]}
    """
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return repr(value)
