"""The Jinja2 sandbox prompts render in, with resource limits.

Jinja2's :class:`~jinja2.sandbox.SandboxedEnvironment` keeps templates away from Python internals;
this one also keeps them from exhausting memory, at compile time (constant folding) and at
render time:

- a string or list made by ``*``, ``%`` or ``**``, by a filter (``center``, ``indent``,
  ``format``, ``replace`` ...) or by a string method (``ljust``, ``zfill`` ...) may hold at most
  :data:`MAX_VALUE` characters (or items);
- numbers made by ``**`` may have at most :data:`MAX_POWER_BITS` bits;
- a rendered prompt may be at most :data:`MAX_OUTPUT` characters.

Each is checked *before* the work is done, so nothing large is ever allocated; breaking a limit
is a :class:`jinja2.exceptions.SecurityError` (reported by :mod:`socratic.prompt`).

Example:
    >>> env = LimitedSandbox()
    >>> env.from_string("{{ 'ab' * 3 }}").render()
    'ababab'
    >>> env.from_string("{{ ('a' * 1000000000)|length }}").render()
    Traceback (most recent call last):
    jinja2.exceptions.SecurityError: a value of 1,000,000,000 characters or items is over the limit ...
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import StrictUndefined, filters
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

#: longest string or list a template may make
MAX_VALUE = 1_000_000
#: longest rendered prompt (characters)
MAX_OUTPUT = 1_000_000
#: largest integer ``**`` may make
MAX_POWER_BITS = 4096

_WIDTH = re.compile(r"%[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")


def _check(size: float) -> None:
    if size > MAX_VALUE:
        raise SecurityError(f"a value of {int(size):,} characters or items is over the limit ({MAX_VALUE:,})")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else len(str(value))


def _check_widths(fmt: str, args: Any) -> None:
    """Field widths and precisions of a ``%`` or ``str.format`` pattern (``%1000000000s``,
    ``{:>1000000000}``, or a width taken from the arguments) within the limit."""
    from string import Formatter

    values = list(args) if isinstance(args, (list, tuple)) else [args]
    numbers = [int(w) for m in _WIDTH.finditer(fmt) for w in m.groups() if w and w != "*"]
    from_args = "*" in fmt
    try:
        for _, field, spec, _ in Formatter().parse(fmt):
            if field is not None and spec:
                numbers += [int(n) for n in re.findall(r"\d+", spec)]
                from_args = from_args or "{" in spec
    except ValueError:
        pass  # not a str.format pattern: Python will say so
    if from_args:
        numbers += [a for a in values if isinstance(a, int)]
    fields = fmt.count("%") + fmt.count("{") + 1
    _check(max(numbers, default=0) * fields + len(fmt) + sum(_size(a) for a in values))


def _mul(left: Any, right: Any) -> Any:
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
            _check(len(seq) * max(n, 0))
    return left * right


def _pow(left: Any, right: Any) -> Any:
    ints = isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0
    if ints and right * max(abs(left).bit_length(), 1) > MAX_POWER_BITS:
        raise SecurityError(f"{left} ** {right} is over the limit ({MAX_POWER_BITS} bits)")
    return left**right


def _mod(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        _check_widths(left, right)
    return left % right


def _width_guard(name: str, width_arg: int, default: Any = None) -> Any:
    """A filter wrapper that refuses a width past the limit before calling the filter."""
    original = filters.FILTERS[name]

    def guarded(*args: Any, **kwargs: Any) -> Any:
        width = kwargs.get("width", args[width_arg] if len(args) > width_arg else default)
        value = args[0] if args else ""
        lines = str(value).count("\n") + 1
        if isinstance(width, int):
            _check(_size(value) + max(width, 0) * (lines if name == "indent" else 1))
        return original(*args, **kwargs)

    guarded.__name__ = name
    return guarded


def _replace(value: Any, old: str, new: str, count: int | None = None) -> Any:
    text = str(value)
    hits = (len(text) + 1) if old == "" else text.count(old)
    if count is not None and count >= 0:
        hits = min(hits, count)
    _check(len(text) + hits * max(len(new) - len(old), 0))
    return filters.FILTERS["replace"](value, old, new, count)  # type: ignore[arg-type]


def _format(value: Any, *args: Any, **kwargs: Any) -> Any:
    _check_widths(str(value), list(args) + list(kwargs.values()))
    return filters.FILTERS["format"](value, *args, **kwargs)


_STR_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "format", "join"}


class LimitedSandbox(SandboxedEnvironment):
    """Jinja2's sandbox with the size limits of the module docstring (strict undefined names).

    Example:
        >>> LimitedSandbox().from_string("{{ 'x'|center(7) }}").render()
        '   x   '
    """

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        options.setdefault("undefined", StrictUndefined)
        super().__init__(**options)
        self.binop_table.update({"*": _mul, "**": _pow, "%": _mod})
        self.filters["center"] = _width_guard("center", 1, default=80)
        self.filters["indent"] = _width_guard("indent", 1, default=4)
        self.filters["replace"] = _replace
        self.filters["format"] = _format

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        return self.binop_table[operator_](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        owner = getattr(target, "__self__", None)
        name = getattr(target, "__name__", "")
        if isinstance(owner, str) and name in _STR_METHODS:
            sizes = [a for a in (*args, *kwargs.values()) if isinstance(a, int)]
            if name == "replace" and len(args) >= 2:
                hits = (len(owner) + 1) if args[0] == "" else owner.count(str(args[0]))
                _check(len(owner) + hits * max(len(str(args[1])) - len(str(args[0])), 0))
            elif name == "expandtabs":
                _check(len(owner) + owner.count("\t") * max(sizes, default=8))
            elif name == "format":
                _check_widths(owner, [*args, *kwargs.values()])
            elif name == "join":
                items = args[0] if args else []
                if isinstance(items, (list, tuple)):
                    _check(sum(_size(i) for i in items) + len(owner) * len(items))
            else:
                _check(len(owner) + max(sizes, default=0))
        return super().call(__context, __obj, *args, **kwargs)

    def render_limited(self, template: Any, variables: dict[str, Any]) -> str:
        """Render, stopping as soon as the output passes :data:`MAX_OUTPUT` characters."""
        parts: list[str] = []
        total = 0
        for chunk in template.generate(**variables):
            total += len(chunk)
            if total > MAX_OUTPUT:
                raise SecurityError(f"the rendered prompt is over the limit ({MAX_OUTPUT:,} characters)")
            parts.append(chunk)
        return "".join(parts)

