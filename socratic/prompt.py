"""Prompt templates: Jinja2, sandboxed, strict. A template's variables become node inputs.

Templates are found by name (``descriptors`` -> ``descriptors.j2``) in user folders first (a
graph's ``prompts_dir``, then ``$SOCRATIC_PROMPTS_PATH``), then among the templates shipped with
the package. Rendering runs in Jinja2's ``SandboxedEnvironment`` with ``StrictUndefined``: a
missing variable or an attempt to reach Python internals (``{{ x.__class__ }}``) is an error.

Chat templates split into messages with role markers, each alone on its line::

    <|system|>
    You are a careful assistant.
    <|user|>
    Q: {{ question }}

Few-shot examples (``shots``) render as user/assistant pairs: each shot's variables go through
the last user section, and its ``answer`` becomes the assistant message.

Images go between the text where the ``image`` filter puts them: ``{{ photo | image }}`` (a
path, PIL image or :class:`~socratic.types.Image`; a list puts each one; ``none`` puts nothing;
``image('low')`` sets the detail). The message then holds text and image parts in that order,
so few-shot shots carry their own images. A variable used only through ``| image`` becomes an
input of type ``union[image, list[image]]``.

Example:
    >>> t = PromptTemplate.from_string("<|system|>\\nBe brief.\\n<|user|>\\nQ: {{ q }}")
    >>> sorted(t.variables)
    ['q']
    >>> for m in t.render_messages({"q": "2+2?"}, shots=[{"q": "1+1?", "answer": "2"}]):
    ...     print(m["role"], "|", m["content"])
    system | Be brief.
    user | Q: 1+1?
    assistant | 2
    user | Q: 2+2?
    >>> try:
    ...     PromptTemplate.from_string("{{ x.__class__ }}")
    ... except GraphError as exc:
    ...     print(exc.message)
    prompt '<inline>' reaches Python internals ('__class__'): not allowed in the sandbox
    >>> try:
    ...     PromptTemplate.from_string("{{ x | attr('__class__') }}").render({"x": 1})
    ... except SocraticError as exc:
    ...     print(exc)
    prompt '<inline>': access to attribute '__class__' of 'int' object is unsafe.
    >>> PromptTemplate.from_string("{{ y }}").render({})
    Traceback (most recent call last):
    socratic.errors.SocraticError: prompt '<inline>': 'y' is undefined
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import GraphError, SocraticError, did_you_mean, shorten

_ROLE_LINE = re.compile(r"^[ \t]*<\|(system|user|assistant)\|>[ \t]*$", re.MULTILINE)
_SINK = "socratic:images"  # the render's image list (a name no template can spell)
_MARK = re.compile("\x00img(\\d+)\x00")


def _image_filter(context: Any, value: Any, detail: str | None = None) -> str:
    """``{{ x | image }}``: register the image(s) for this render, return their place marks."""
    from .types import Image

    sink = context.get(_SINK)
    if sink is None:
        raise SocraticError("the image filter works in llm.generate prompts only")
    if detail not in (None, "auto", "low", "high"):
        raise SocraticError(f"image filter: detail must be auto, low or high, not {detail!r}")
    values = value if isinstance(value, (list, tuple)) else [] if value is None else [value]
    marks = []
    for v in values:
        try:
            image = Image.from_value(v)
        except TypeError as exc:
            raise SocraticError(f"image filter: {exc}") from None
        sink.append({"type": "image", "image": image, **({"detail": detail} if detail else {})})
        marks.append(f"\x00img{len(sink) - 1}\x00")
    return "".join(marks)


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import pass_context

    from .sandbox import LimitedSandbox

    env = LimitedSandbox(autoescape=False, keep_trailing_newline=False, trim_blocks=True,
                         lstrip_blocks=True)
    env.filters["image"] = pass_context(_image_filter)
    return env


def _parts(text: str, images: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Rendered text with image marks -> plain text, or text and image parts in order."""
    if not images:
        return text
    parts: list[dict[str, Any]] = []
    pos = 0
    for m in _MARK.finditer(text):
        chunk = text[pos : m.start()]
        if chunk.strip():
            parts.append({"type": "text", "text": chunk.strip()})
        parts.append(images[int(m.group(1))])
        pos = m.end()
    if text[pos:].strip():
        parts.append({"type": "text", "text": text[pos:].strip()})
    return parts


def _image_variables(ast: Any) -> set[str]:
    """Variables used only as ``{{ name | image }}`` (they become image inputs)."""
    from jinja2 import nodes

    filters = [f for f in ast.find_all(nodes.Filter) if f.name == "image"]
    imaged = {f.node.name for f in filters if isinstance(f.node, nodes.Name)}
    filtered = {id(f.node) for f in filters}
    mixed = {n.name for n in ast.find_all(nodes.Name) if n.name in imaged and id(n) not in filtered}
    return imaged - mixed


def _unsafe_attributes(ast: Any) -> list[str]:
    from jinja2 import nodes

    bad = []
    for n in ast.find_all((nodes.Getattr, nodes.Getitem)):
        attr = getattr(n, "attr", None)
        if attr is None and isinstance(getattr(n, "arg", None), nodes.Const):
            attr = n.arg.value
        if isinstance(attr, str) and attr.startswith("_"):
            bad.append(attr)
    return bad


class PromptTemplate:
    """A compiled, sandboxed Jinja2 prompt (see the module docstring).

    Example:
        >>> PromptTemplate.from_string("Hello {{ name }}!").render({"name": "Ada"})
        'Hello Ada!'
    """

    def __init__(self, source: str, name: str = "<inline>", path: str | None = None) -> None:
        from jinja2 import TemplateSyntaxError, meta, nodes

        self.source = source
        self.name = name
        self.path = path
        env = _env()
        try:
            ast = env.parse(source)
        except TemplateSyntaxError as exc:
            raise GraphError(f"prompt '{name}' line {exc.lineno}: {exc.message}") from None
        for tag in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            raise GraphError(
                f"prompt '{name}' line {tag.lineno}: include / import / extends are not supported"
                " (templates are single files)"
            )
        bad = _unsafe_attributes(ast)
        if bad:
            raise GraphError(
                f"prompt '{name}' reaches Python internals ('{bad[0]}'): not allowed in the sandbox"
            )
        self.variables: set[str] = set(meta.find_undeclared_variables(ast))
        #: variables used only through the image filter
        self.image_variables: set[str] = _image_variables(ast) & self.variables
        #: whether the template places images (the image filter appears)
        self.has_images = any(f.name == "image" for f in ast.find_all(nodes.Filter))
        self._template = env.from_string(source)
        self._sections = self._split(source)
        # each chat section compiled once (rendering must not recompile per call)
        self._compiled = [
            (role, env.from_string(text)) for role, text in (self._sections or [("user", source)])
        ]

    @classmethod
    def from_string(cls, source: str, name: str = "<inline>") -> PromptTemplate:
        return cls(source, name)

    @staticmethod
    def _split(source: str) -> list[tuple[str, str]]:
        marks = list(_ROLE_LINE.finditer(source))
        if not marks:
            return []
        if re.sub(r"\{#.*?#\}", "", source[: marks[0].start()], flags=re.DOTALL).strip():
            raise GraphError("text before the first <|role|> marker in a chat template")
        sections = []
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(source)
            sections.append((m.group(1), source[m.end() : end].strip("\n")))
        return sections

    @property
    def is_chat(self) -> bool:
        return bool(self._sections)

    def _render_text(self, template: Any, variables: dict[str, Any],
                     sink: list[dict[str, Any]] | None = None) -> str:
        from jinja2 import UndefinedError
        from jinja2.exceptions import SecurityError

        if self.has_images:
            variables = {**variables, _SINK: sink}
        try:
            return _env().render_limited(template, variables)
        except UndefinedError as exc:
            raise SocraticError(f"prompt '{self.name}': {exc.message}") from None
        except SecurityError as exc:
            raise SocraticError(f"prompt '{self.name}': {exc}") from None

    def _render_content(self, template: Any, variables: dict[str, Any]) -> str | list[dict[str, Any]]:
        sink: list[dict[str, Any]] = []
        text = self._render_text(template, variables, sink).strip()
        return _parts(text, sink)

    def render(self, variables: dict[str, Any]) -> str:
        """Render to one string (role markers, if any, are kept as text)."""
        if self.has_images:
            raise SocraticError(f"prompt '{self.name}' places images: render it as messages")
        return self._render_text(self._template, variables).strip()

    def render_messages(
        self, variables: dict[str, Any], shots: Iterable[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Render to chat messages; ``shots`` add user/assistant pairs before the last user.
        A message that places images has a list of text and image parts as its content."""
        sections = self._compiled
        last_user = max(i for i, (role, _) in enumerate(sections) if role == "user") if any(
            r == "user" for r, _ in sections
        ) else None
        messages: list[dict[str, str]] = []
        for i, (role, tmpl) in enumerate(sections):
            if i == last_user and shots:
                for k, shot in enumerate(shots):
                    if "answer" not in shot:
                        raise SocraticError(f"prompt '{self.name}': shot {k} has no 'answer'")
                    shot_vars = {**variables, **shot}
                    messages.append({"role": "user", "content": self._render_content(tmpl, shot_vars)})
                    messages.append({"role": "assistant", "content": str(shot["answer"])})
            content = self._render_content(tmpl, variables)
            if not isinstance(content, str) and role != "user":
                raise SocraticError(f"prompt '{self.name}': images go in user sections, not {role}")
            messages.append({"role": role, "content": content})
        return messages


def search_paths(extra: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """User folders (given, then ``$SOCRATIC_PROMPTS_PATH``) then the shipped templates."""
    paths = [Path(p) for p in extra]
    env = os.environ.get("SOCRATIC_PROMPTS_PATH", "")
    paths += [Path(p) for p in env.split(os.pathsep) if p]
    from importlib.resources import files

    paths.append(Path(str(files("socratic.prompts"))))
    return paths


def available_prompts(extra: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    names: set[str] = set()
    for folder in search_paths(extra):
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.j2"))
    return sorted(names)


def load_prompt(name: str, extra: Iterable[str | os.PathLike[str]] = ()) -> PromptTemplate:
    """Find ``NAME.j2`` (or ``sub/NAME.j2``) in the prompt folders and compile it.

    Template paths are relative to a prompt folder: absolute paths, ``..`` and links that
    resolve outside the folder they were found in are refused.
    """
    extra = list(extra)
    if os.path.isabs(name) or name.startswith("~") or ".." in Path(name).parts:
        raise GraphError(f"prompt '{name}': template paths are relative to a prompt folder (prompts_dir,"
                         " $SOCRATIC_PROMPTS_PATH); absolute paths and '..' are refused")
    if ("/" in name or os.sep in name) and not name.endswith(".j2"):
        raise GraphError(f"prompt '{name}': a template path must name a .j2 file")
    file = name if name.endswith(".j2") else f"{name}.j2"
    for folder in search_paths(extra):
        path = folder / file
        if path.is_file():
            real, root = path.resolve(), folder.resolve()
            if not real.is_relative_to(root):
                raise GraphError(f"prompt '{name}': {path} resolves outside its prompt folder {folder}"
                                 " (a link to elsewhere): refused")
            return PromptTemplate(real.read_text(encoding="utf-8"), name=name, path=str(path))
    known = available_prompts(extra)
    raise GraphError(f"prompt template '{shorten(name, 100)}' not found{did_you_mean(name, known)};"
                     f" available: {', '.join(known)}")
