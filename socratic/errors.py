"""One error hierarchy for ``socratic`` and ``socratic.adapters``; the exit code goes with the class.

Every error a user can cause is a subclass of :class:`SocraticError`. The command line maps an
error to its exit code in one place (``socratic.cli``) by reading ``exit_code``:

- ``1`` runtime failure: :class:`ModelLoadError`, :class:`LLMError`, :class:`NodeError`,
  :class:`ParseError`, :class:`TrainingError`, :class:`MissingExtraError`;
- ``2`` bad usage, found before anything ran (:class:`UsageError`): :class:`GraphError`,
  :class:`ValidationFailed` (every problem of a graph or config file at once),
  :class:`InputError`, :class:`DataError`.

Messages echo user values cut to a readable length (:func:`shorten`).

Example:
    >>> err = GraphError("unknown node 'x'", file="g.yaml", line=3, col=5)
    >>> str(err), err.exit_code
    ("g.yaml:3:5: error: unknown node 'x'", 2)
    >>> exit_code_of(ModelLoadError("no weights")), exit_code_of(ValueError())
    (1, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: longest echo of a user value inside an error message
MAX_ECHO = 200


def shorten(value: Any, limit: int = MAX_ECHO) -> str:
    """``repr``-free text of a user value, cut to ``limit`` characters with a count of the rest.

    Example:
        >>> shorten("x" * 500, 10)
        'xxxxxxxxxx... (490 more characters)'
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def did_you_mean(word: Any, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ``""`` (long words are not compared).

    Example:
        >>> did_you_mean("llm.generat", ["llm.generate", "text.join"])
        " (did you mean 'llm.generate'?)"
    """
    from difflib import get_close_matches

    text = str(word)
    if len(text) > MAX_ECHO:
        return ""
    close = get_close_matches(text, [str(c) for c in choices], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class SocraticError(Exception):
    """Base class of every error raised on purpose (runtime failure, exit code 1).

    Example:
        >>> raise SocraticError("model 'llm' could not be loaded")
        Traceback (most recent call last):
        socratic.errors.SocraticError: model 'llm' could not be loaded
    """

    exit_code = EXIT_FAILURE


class UsageError(SocraticError):
    """Bad usage: the input, file or flag is wrong and nothing ran (exit code 2).

    Example:
        >>> UsageError("--out needs --data").exit_code
        2
    """

    exit_code = EXIT_USAGE


@dataclass
class Location:
    """A position in a source file (1-based line and column).

    Example:
        >>> str(Location("g.yaml", 3, 5))
        'g.yaml:3:5'
    """

    file: str | None = None
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        parts = [self.file or "<graph>"]
        if self.file and self.file.startswith("--set ") and self.line is None:
            return self.file
        if self.line is not None:
            parts.append(str(self.line))
            parts.append(str(self.col or 1))
        return ":".join(parts)


class GraphError(UsageError):
    """One problem with a graph or config file, found before anything runs (exit code 2).

    Structured: ``node`` and ``socket`` name the place at fault (when there is one), ``kind``
    what is wrong (``unknown_node``, ``unknown_input``, ``unknown_output``, ``type``, ``cycle``,
    ``unbound``, ``schema`` ...), ``ref_node`` the node a bad reference points at.

    Example:
        >>> e = GraphError("cycle: a -> b -> a", node="a", kind="cycle")
        >>> str(e), e.kind
        ('<graph>: error: cycle: a -> b -> a', 'cycle')
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        node: str | None = None,
        socket: str | None = None,
        kind: str = "",
        ref_node: str | None = None,
    ) -> None:
        message = shorten(message, 2 * MAX_ECHO + 800)  # whatever a message echoes, it stays readable
        super().__init__(message)
        self.message = message
        self.location = Location(file, line, col)
        self.node = node
        self.socket = socket
        self.kind = kind
        self.ref_node = ref_node

    def located(self, location: Location) -> GraphError:
        """The same problem at ``location``."""
        return GraphError(self.message, file=location.file, line=location.line, col=location.col,
                          node=self.node, socket=self.socket, kind=self.kind, ref_node=self.ref_node)

    def __str__(self) -> str:
        return f"{self.location}: error: {self.message}"


class ValidationFailed(UsageError):
    """Every problem of a graph or config file at once (exit code 2).

    Example:
        >>> e = ValidationFailed([GraphError("a"), GraphError("b")])
        >>> len(e.errors)
        2
    """

    def __init__(self, errors: list[GraphError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


class InputError(UsageError):
    """A graph input, flag or value that is missing or of the wrong type (exit code 2).

    Example:
        >>> str(InputError("input 'n' expects int, got 'x'"))
        "input 'n' expects int, got 'x'"
    """


class DataError(UsageError):
    """A data file, folder or row that cannot be read; names the file and line (exit code 2).

    Example:
        >>> str(DataError("missing 'image'", file="val.jsonl", line=3))
        "val.jsonl:3: missing 'image'"
    """

    def __init__(self, message: str, *, file: Any = None, line: int | None = None) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.line = line
        where = ":".join(str(x) for x in (self.file, line) if x is not None)
        super().__init__(f"{where}: {message}" if where else message)


class NodeError(SocraticError):
    """A node failed while running; names the node and keeps the cause.

    Example:
        >>> str(NodeError("describe", ValueError("boom")))
        "node 'describe' failed: ValueError: boom"
    """

    def __init__(self, node: str, cause: BaseException, *, item: int | None = None) -> None:
        self.node = node
        self.cause = cause
        self.item = item
        where = f"node '{node}'" + (f" (for_each item {item})" if item is not None else "")
        detail = str(cause) if isinstance(cause, SocraticError) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"{where} failed: {detail}")


class ParseError(SocraticError):
    """An LLM answer that a parser could not read; shows the raw text.

    Example:
        >>> str(ParseError("json", "not json", "Expecting value"))
        "could not parse answer as json: Expecting value\\nraw text: 'not json'"
    """

    def __init__(self, parser: str, raw: str, reason: str) -> None:
        self.parser = parser
        self.raw = raw
        self.reason = reason
        shown = raw if len(raw) <= 2000 else raw[:2000] + "...[truncated]"
        super().__init__(f"could not parse answer as {parser}: {reason}\nraw text: {shown!r}")


class RowDropped(SocraticError):
    """Not a failure: a filter decided this row leaves the dataset (the reason is recorded and
    counted in the run's summary; a resumed run does not try it again).

    Example:
        >>> str(RowDropped("filter.text: 2 words (at least 3)"))
        'filter.text: 2 words (at least 3)'
    """

    exit_code = EXIT_OK


class ModelLoadError(SocraticError):
    """A model that could not be loaded (missing local file, offline hub, unknown architecture,
    a base model that does not match a saved bridge).

    Example:
        >>> raise ModelLoadError("open_clip model 'ViT-X' is unknown")
        Traceback (most recent call last):
        socratic.errors.ModelLoadError: open_clip model 'ViT-X' is unknown
    """


class LLMError(SocraticError):
    """An LLM request that failed for good (after retries, or at once for 4xx); never shows keys.

    Example:
        >>> raise LLMError("401 Unauthorized from http://127.0.0.1:9/v1")
        Traceback (most recent call last):
        socratic.errors.LLMError: 401 Unauthorized from http://127.0.0.1:9/v1
    """


class TrainingError(SocraticError):
    """A training run cannot proceed (too little data, a bad checkpoint, ranks that disagree).

    Example:
        >>> TrainingError("the model has no trainable parameters").exit_code
        1
    """


class MissingExtraError(SocraticError):
    """An optional dependency is not installed; names the extra that brings it.

    Example:
        >>> e = MissingExtraError("open_clip", "vision", "an open_clip model")
        >>> str(e).split(":")[0]
        "an open_clip model needs the 'vision' extra"
    """

    def __init__(self, module: str, extra: str, what: str) -> None:
        self.module, self.extra = module, extra
        super().__init__(
            f"{what} needs the '{extra}' extra: pip install 'socratic-vl[{extra}]'"
            f" (No module named '{module}')"
        )


def exit_code_of(exc: BaseException) -> int:
    """The documented exit code of an error (1 for anything that is not a SocraticError)."""
    return int(getattr(exc, "exit_code", EXIT_FAILURE)) if isinstance(exc, SocraticError) else EXIT_FAILURE
