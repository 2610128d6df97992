"""Error types. Every error a user can cause names what is at fault.

Exit codes used by the CLI: 0 success, 1 runtime failure, 2 bad usage or invalid graph.

Example:
    >>> err = GraphError("unknown node 'x'", file="g.yaml", line=3, col=5)
    >>> str(err)
    "g.yaml:3:5: error: unknown node 'x'"
"""

from __future__ import annotations

from dataclasses import dataclass


class SocraticError(Exception):
    """Base class of all errors raised on purpose by socratic (runtime failures, exit code 1).

    Example:
        >>> raise SocraticError("model 'llm' could not be loaded")
        Traceback (most recent call last):
        socratic.errors.SocraticError: model 'llm' could not be loaded
    """

    exit_code = 1


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


class GraphError(SocraticError):
    """A problem with a graph's structure or types, found before anything runs (exit code 2).

    Example:
        >>> str(GraphError("cycle: a -> b -> a"))
        '<graph>: error: cycle: a -> b -> a'
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = Location(file, line, col)

    def __str__(self) -> str:
        return f"{self.location}: error: {self.message}"


class ValidationFailed(SocraticError):
    """Several graph errors found at once (validation reports every problem, not just the first).

    Example:
        >>> e = ValidationFailed([GraphError("a"), GraphError("b")])
        >>> len(e.errors)
        2
    """

    exit_code = 2

    def __init__(self, errors: list[GraphError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


class InputError(SocraticError):
    """A graph input (or `--set` / `-i` value) that is missing or of the wrong type (exit code 2).

    Example:
        >>> str(InputError("input 'n' expects int, got 'x'"))
        "input 'n' expects int, got 'x'"
    """

    exit_code = 2


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


class ModelLoadError(SocraticError):
    """A model that could not be loaded (missing local file, offline hub, unknown architecture).

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
