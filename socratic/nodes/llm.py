"""``llm.generate``: render a prompt template, ask an LLM, parse the answer.

The template's variables are the node's input sockets. ``parse`` picks a parser (see
:mod:`socratic.parsers`); with ``n > 1`` both outputs are lists (one entry per sample).
``reask`` gives the model that many chances to fix an answer that did not parse.

Example:
    >>> from socratic.llm.base import LLM, LLMResult
    >>> class Fixed(LLM):
    ...     backend = "fixed"
    ...     async def _agenerate(self, request):
    ...         return LLMResult(texts=["- red\\n- round"] * request.n)
    >>> gen = Generate(Fixed(cache=False), template="Describe a {{ thing }}.", parse="bullets")
    >>> sorted(gen.input_sockets())
    ['thing']
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
from ..types import parse_type


class Generate(Node):
    """Prompt -> LLM -> parsed answer. Registered as ``llm.generate``.

    Options: ``prompt`` (a template name, found in the graph's prompt folders or the shipped
    ``prompts/``) or ``template`` (inline Jinja2); ``parse``; sampling (``n``, ``temperature``,
    ``top_p``, ``max_tokens``, ``stop``, ``seed``); ``reask``; ``few_shot`` (adds a ``shots``
    input: a list of ``{variables..., answer}`` rendered as user/assistant pairs);
    ``variables`` (types for template variables, default ``any``).

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
        reask: int = 0,
        few_shot: bool = False,
        variables: dict[str, str] | None = None,
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
        self.reask = reask
        self.few_shot = few_shot
        self.variable_types = {}
        for name, tname in (variables or {}).items():
            try:
                self.variable_types[name] = parse_type(tname)
            except ValueError as exc:
                raise GraphError(f"variables.{name}: {exc}") from None
        self.batchable = hasattr(model, "agenerate_batch")  # local models batch across rows

    # -- sockets ---------------------------------------------------------------------------
    def input_sockets(self) -> dict[str, Socket]:
        origin = f"variable of prompt '{self.template.name}'"
        sockets = {
            v: Socket(v, self.variable_types.get(v, Any), REQUIRED, origin)
            for v in sorted(self.template.variables)
        }
        if self.few_shot:
            sockets["shots"] = Socket("shots", list[dict[str, Any]], None, "few-shot examples")
        if self.parser.needs_choices:
            sockets["choices"] = Socket("choices", list[str], REQUIRED, "labels for parse: choice")
        return sockets

    def output_sockets(self) -> dict[str, Socket]:
        out_t = self.parser.output_type
        if self.n > 1:
            return {"output": Socket("output", list[out_t]), "text": Socket("text", list[str])}
        return {"output": Socket("output", out_t), "text": Socket("text", str)}

    # -- running ---------------------------------------------------------------------------
    def build_request(self, inputs: dict[str, Any]) -> LLMRequest:
        shots = inputs.get("shots") if self.few_shot else None
        variables = {k: v for k, v in inputs.items() if k not in ("shots", "choices")}
        messages = self.template.render_messages(variables, shots=shots)
        # rendered messages and the options checked in __init__ are valid by construction
        return LLMRequest.model_construct(
            messages=[ChatMessage.model_construct(**m) for m in messages], prompt=None,
            **self.sampling,
        )

    async def _finish(self, request: LLMRequest, result: LLMResult, choices: Any) -> dict:
        outputs = []
        texts = list(result.texts)
        for i, text in enumerate(texts):
            value, texts[i] = await self._parse_with_reask(request, text, choices)
            outputs.append(value)
        if self.n > 1:
            return {"output": outputs, "text": texts}
        return {"output": outputs[0], "text": texts[0]}

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
                        f" in the expected format ({self.parser.name}).",
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
        result = await self.model.agenerate(request)
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

