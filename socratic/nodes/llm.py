"""``llm.generate``: render a prompt template, ask an LLM, parse the answer.

The template's variables are the node's input sockets. ``parse`` picks a parser (see
:mod:`socratic.parsers`); with ``n > 1`` both outputs are lists (one entry per sample).
``reask`` gives the model that many chances to fix an answer that did not parse (default 0, and
1 for ``json_schema``).

Images: the optional ``images`` input (one image or a list) is attached to the last user
message, before its text; ``{{ x | image }}`` in the template places images between the text
(see :mod:`socratic.prompt`). ``detail`` (auto, low, high) is sent with each image. A model
known to be text-only is refused when the graph is validated.

Structured answers: ``parse: {json_schema: SCHEMA}`` (or a pydantic model in Python) sends the
schema with the request, validates the answer, and adds one typed output per property.

Streaming: under :meth:`socratic.graph.Graph.astream` the node streams its answer (token
deltas as events); outside it, nothing changes.

Example:
    >>> from socratic.llm.base import LLM, LLMResult
    >>> class Fixed(LLM):
    ...     backend = "fixed"
    ...     async def _agenerate(self, request):
    ...         return LLMResult(texts=["- red\\n- round"] * request.n)
    >>> gen = Generate(Fixed(cache=False), template="Describe a {{ thing }}.", parse="bullets")
    >>> sorted(gen.input_sockets())
    ['images', 'thing']
    >>> import asyncio
    >>> asyncio.run(gen.arun(thing="apple"))["output"]
    ['red', 'round']
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from ..errors import GraphError, ParseError
from ..llm.base import LLM, ChatMessage, LLMRequest, LLMResult
from ..node import REQUIRED, Node, Socket
from ..parsers import make_parser
from ..prompt import PromptTemplate, load_prompt
from ..types import Image, parse_type

#: the type of the ``images`` input and of template variables used as ``{{ x | image }}``
ImagesType = Image | list[Image]


class Generate(Node):
    """Prompt -> LLM -> parsed answer. Registered as ``llm.generate``.

    Options: ``prompt`` (a template name, found in the graph's prompt folders or the shipped
    ``prompts/``) or ``template`` (inline Jinja2); ``parse``; sampling (``n``, ``temperature``,
    ``top_p``, ``max_tokens``, ``stop``, ``seed``); ``reask``; ``few_shot`` (adds a ``shots``
    input: a list of ``{variables..., answer}`` rendered as user/assistant pairs);
    ``variables`` (types for template variables, default ``any``); ``detail`` (images: auto,
    low or high). Inputs: the template's variables, ``images`` (optional: an image or a list,
    attached to the last user message), ``shots`` / ``choices`` when used.

    Example (YAML):
        describe:
          type: llm.generate
          model: llm
          prompt: descriptors
          parse: bullets
          for_each: {category: "${inputs.classes}"}
    """

    model_kind = "llm"
    context_options = ("prompt_dirs",)

    def __init__(
        self,
        model: LLM,
        prompt: str | None = None,
        template: str | None = None,
        parse: Any = None,
        n: int = 1,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        seed: int | None = None,
        reask: int | None = None,
        few_shot: bool = False,
        variables: dict[str, str] | None = None,
        detail: str | None = None,
        prompt_dirs: list[str] | None = None,
    ) -> None:
        if (prompt is None) == (template is None):
            raise GraphError("llm.generate needs exactly one of 'prompt' (a name) or 'template'")
        self.model = model
        self.template: PromptTemplate = (
            load_prompt(prompt, prompt_dirs or ())
            if prompt is not None
            else PromptTemplate.from_string(template or "", name="<inline>")
        )
        self.parser = make_parser(parse)
        self.n = n
        try:
            self.sampling = LLMRequest(
                prompt="", n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                stop=stop, seed=seed,
            ).model_dump(exclude={"prompt", "messages"}, exclude_none=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "options"
            raise GraphError(f"llm.generate option '{where}': {first['msg']}") from None
        self.json_schema = getattr(self.parser, "request_schema", lambda: None)()
        self.reask = reask if reask is not None else (1 if self.json_schema else 0)
        if self.reask < 0:
            raise GraphError("llm.generate option 'reask' must be 0 or more")
        if detail not in (None, "auto", "low", "high"):
            raise GraphError(f"llm.generate option 'detail' must be auto, low or high, not {detail!r}")
        self.detail = detail
        self.few_shot = few_shot
        clash = {"output", "text"} & set(self.parser.fields())
        if clash:
            raise GraphError(f"parse json_schema: property '{sorted(clash)[0]}' would clash with the"
                             " node's own output of that name")
        if self.template.has_images:
            self._refuse_text_only(model, "its prompt places images ({{ ... | image }})")
        self.variable_types = {v: ImagesType for v in self.template.image_variables}
        for name, tname in (variables or {}).items():
            try:
                self.variable_types[name] = parse_type(tname)
            except ValueError as exc:
                raise GraphError(f"variables.{name}: {exc}") from None
        self.batchable = hasattr(model, "agenerate_batch")  # local models batch across rows

    @staticmethod
    def _refuse_text_only(model: Any, why: str) -> None:
        accepts = getattr(model, "accepts_images", None)
        if accepts is not None and accepts() is False:
            raise GraphError(f"model '{model.name}' cannot see images (a text-only model), but {why}:"
                             " use a vision-language model (hf VLM, openai, replay, bridge_llm)")

    def binding_problems(self, bound: set[str]) -> list[str]:
        """Problems only the graph's bindings show (``socratic validate`` reports them)."""
        if "images" in bound and "images" not in self.template.variables:
            try:
                self._refuse_text_only(self.model, "input 'images' is bound")
            except GraphError as exc:
                return [exc.message]
        return []

    # -- sockets ---------------------------------------------------------------------------
    def input_sockets(self) -> dict[str, Socket]:
        origin = f"variable of prompt '{self.template.name}'"
        sockets = {
            v: Socket(v, self.variable_types.get(v, Any), REQUIRED, origin)
            for v in sorted(self.template.variables)
        }
        if "images" not in sockets:
            sockets["images"] = Socket("images", ImagesType | None, None,
                                       "image(s) for the last user message")
        if self.few_shot:
            sockets["shots"] = Socket("shots", list[dict[str, Any]], None, "few-shot examples")
        if self.parser.needs_choices:
            sockets["choices"] = Socket("choices", list[str], REQUIRED, "labels for parse: choice")
        return sockets

    def output_sockets(self) -> dict[str, Socket]:
        out_t = self.parser.output_type
        many = self.n > 1
        sockets = {"output": Socket("output", list[out_t] if many else out_t),
                   "text": Socket("text", list[str] if many else str)}
        for name, tp in self.parser.fields().items():
            sockets[name] = Socket(name, list[tp] if many else tp, description="schema property")
        return sockets

    # -- running ---------------------------------------------------------------------------
    def build_request(self, inputs: dict[str, Any]) -> LLMRequest:
        shots = inputs.get("shots") if self.few_shot else None
        images = inputs.get("images") if "images" not in self.template.variables else None
        variables = {k: v for k, v in inputs.items() if k not in ("shots", "choices", "images")}
        if "images" in self.template.variables:
            variables["images"] = inputs.get("images")
        messages = self.template.render_messages(variables, shots=shots)
        if images is not None or self.detail:
            messages = self._attach(messages, images)
        if self.json_schema and not self.model.enforces_json_schema:
            messages = _with_instruction(messages, "Answer with " + self.parser.format_hint())
        # rendered messages and the options checked in __init__ are valid by construction
        return LLMRequest.model_construct(
            messages=[ChatMessage.model_construct(**m) for m in messages], prompt=None,
            json_schema=self.json_schema, **self.sampling,
        )

    def _attach(self, messages: list[dict[str, Any]], images: Any) -> list[dict[str, Any]]:
        """Put ``images`` before the text of the last user message; ``detail`` goes to every
        image that does not set its own."""
        values = [] if images is None else images if isinstance(images, (list, tuple)) else [images]
        extra = {"detail": self.detail} if self.detail else {}
        parts = [{"type": "image", "image": Image.from_value(v), **extra} for v in values]
        out = []
        last = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
        if last is None and parts:
            raise GraphError("llm.generate got images, but its prompt has no user section")
        for i, m in enumerate(messages):
            content = m["content"]
            if self.detail and not isinstance(content, str):
                content = [{**extra, **p} if p["type"] == "image" else p for p in content]
            if i == last and parts:
                old = [{"type": "text", "text": content}] if isinstance(content, str) else content
                content = parts + [p for p in old if p["type"] != "text" or p["text"]]
            out.append({**m, "content": content})
        return out

    async def _finish(self, request: LLMRequest, result: LLMResult, choices: Any) -> dict:
        outputs = []
        texts = list(result.texts)
        for i, text in enumerate(texts):
            value, texts[i] = await self._parse_with_reask(request, text, choices)
            outputs.append(value)
        fields = self.parser.fields()
        if self.n > 1:
            out = {"output": outputs, "text": texts}
            per = [self.parser.field_values(v) for v in outputs]
            out.update({k: [p[k] for p in per] for k in fields})
            return out
        return {"output": outputs[0], "text": texts[0], **self.parser.field_values(outputs[0])}

    async def _parse_with_reask(self, request: LLMRequest, text: str, choices: Any) -> Any:
        attempt = 0
        messages = request.as_messages()
        while True:
            try:
                return self.parser.parse(text, choices=choices), text
            except ParseError as exc:
                if attempt >= self.reask:
                    raise
                attempt += 1
                messages = [
                    *messages,
                    {"role": "assistant", "content": text},
                    {
                        "role": "user",
                        "content": f"Your answer could not be read ({exc.reason}). Answer again,"
                        f" in the expected format ({self.parser.format_hint()}).",
                    },
                ]
                retry = request.model_copy(update={"messages": None, "n": 1})
                retry = LLMRequest(
                    messages=messages, **{**retry.model_dump(exclude={"messages", "prompt"},
                                                              exclude_none=True), "n": 1}
                )
                text = (await self.model.agenerate(retry)).text

    async def arun(self, **inputs: Any) -> dict[str, Any]:
        request = self.build_request(inputs)
        from ..scheduler import current_events

        events = current_events()
        if events is None:
            result = await self.model.agenerate(request)
        else:
            result = None
            async for chunk in self.model.astream(request):
                if chunk.result is not None:
                    result = chunk.result
                elif chunk.text:
                    events.token(chunk.text, chunk.index)
            assert result is not None
        return await self._finish(request, result, inputs.get("choices"))

    async def arun_batch(self, calls: list[dict[str, Any]]) -> list[Any]:
        requests = [self.build_request(c) for c in calls]
        results = await self.model.agenerate_batch(requests)  # type: ignore[attr-defined]
        return list(
            await asyncio.gather(
                *(self._finish(r, res, c.get("choices")) for r, res, c in
                  zip(requests, results, calls, strict=True))
            )
        )



def _with_instruction(messages: list[dict[str, Any]], instruction: str) -> list[dict[str, Any]]:
    """Append an instruction to the last user message (text or parts)."""
    out = [dict(m) for m in messages]
    for m in reversed(out):
        if m["role"] == "user":
            content = m["content"]
            if isinstance(content, str):
                m["content"] = f"{content}\n\n{instruction}" if content else instruction
            else:
                m["content"] = [*content, {"type": "text", "text": instruction}]
            return out
    return [*out, {"role": "user", "content": instruction}]
