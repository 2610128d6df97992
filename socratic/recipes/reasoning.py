"""Reasoning recipes: in-context examples, chain-of-thought, self-consistency.

- ``fewshot.episode``: a seeded N-way K-shot episode from a pool of labelled rows.
- ``fewshot.select``: the K pool rows most similar to a query, as shots for ``llm.generate``
  with ``few_shot: true`` (e.g. with the shipped ``fewshot_classify`` / ``fewshot_qa`` prompts).
- ``reason.chain_of_thought``: zero-shot CoT (Kojima et al. 2022: "Let's think step by step.",
  then "Therefore, the answer is" to extract the answer) or few-shot CoT (Wei et al. 2022: worked
  exemplars ``{question, reasoning, answer}``, answer read from "The answer is ..."); with
  ``samples: k`` at a temperature it is self-consistency (Wang et al. 2023): k reasoning paths,
  one answer each, majority vote (tie rule of ``vote.majority``: the earliest answer among those
  with the top count wins). The reasoning is an output of its own, apart from the answer.

Example:
    >>> from socratic.llm.base import LLM, LLMResult
    >>> class Toy(LLM):
    ...     backend = "toy"
    ...     async def _agenerate(self, request):
    ...         last = request.as_messages()[-1]["content"]
    ...         if last.endswith("step by step."):
    ...             return LLMResult(texts=["2 + 2 = 4."] * request.n)
    ...         return LLMResult(texts=[" 4."] * request.n)
    >>> cot = ChainOfThought(Toy(cache=False), parse="number")
    >>> out = cot.run_sync(question="What is 2 + 2?")
    >>> out["answer"], out["reasoning"]
    ('4', ['2 + 2 = 4.'])
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from ..errors import GraphError, ParseError
from ..llm.base import LLM
from ..node import REQUIRED, Node, Socket
from ..nodes.llm import Generate
from ..nodes.vote import MajorityVote, _as_text
from ..parsers import Parser, make_parser
from .episodes import sample_episode, select_similar

_ANSWER_IS = re.compile(r"answer is[:\s]*(.+?)(?:\.\s|\.$|\n|$)", re.IGNORECASE)


class FewShotEpisode(Node):
    """``fewshot.episode``: seeded N-way K-shot sampling over labelled rows.

    Example:
        >>> pool = [{"text": f"{c}{i}", "label": c} for c in "xyz" for i in range(3)]
        >>> out = FewShotEpisode(n_way=2, k_shot=1, seed=1).run(pool=pool)
        >>> len(out["classes"]), len(out["shots"]), len(out["queries"])
        (2, 2, 2)
    """

    outputs = {"classes": list[str], "shots": list[dict[str, Any]], "queries": list[dict[str, Any]]}

    def __init__(self, n_way: int = 5, k_shot: int = 1, n_query: int = 1, seed: int = 0,
                 label_key: str = "label") -> None:
        self.n_way, self.k_shot, self.n_query, self.seed = n_way, k_shot, n_query, seed
        self.label_key = label_key

    def run(self, pool: list[dict[str, Any]]) -> dict[str, Any]:
        ep = sample_episode(pool, n_way=self.n_way, k_shot=self.k_shot, n_query=self.n_query,
                            seed=self.seed, label_key=self.label_key)
        shots = [{**row, "answer": row[self.label_key]} for row in ep.support]
        return {"classes": ep.classes, "shots": shots, "queries": ep.query}


class SelectShots(Node):
    """``fewshot.select``: the ``k`` rows of ``pool`` most like ``query`` (TF-IDF cosine, or a
    CLIP text encoder given as ``model``), as shots with ``answer`` taken from ``answer_key``.

    Example:
        >>> pool = [{"text": "red apple", "label": "fruit"}, {"text": "blue car", "label": "car"}]
        >>> SelectShots(k=1).run(query="apple", pool=pool)["shots"]
        [{'text': 'red apple', 'label': 'fruit', 'answer': 'fruit'}]
    """

    outputs = {"shots": list[dict[str, Any]]}
    model_kind = "clip"

    def __init__(self, k: int = 4, text_key: str = "text", answer_key: str = "label",
                 model: Any = None) -> None:
        self.k, self.text_key, self.answer_key, self.model = k, text_key, answer_key, model

    def run(self, query: str, pool: list[dict[str, Any]]) -> dict[str, Any]:
        embed = self.model.embed_texts if self.model is not None else None
        rows = select_similar(query, pool, self.k, text_key=self.text_key, embed=embed)
        return {"shots": [{**r, "answer": r[self.answer_key]} for r in rows]}


class _Cleansed(Parser):
    """A parser applied after answer cleansing: the text after "answer is" (when ``answer_is``),
    without a trailing period."""

    def __init__(self, inner: Parser, answer_is: bool) -> None:
        self.inner, self.answer_is = inner, answer_is
        self.name, self.needs_choices = inner.name, inner.needs_choices

    def parse(self, text: str, choices: list[str] | None = None) -> Any:
        if self.answer_is:
            m = _ANSWER_IS.search(text)
            if not m:
                raise ParseError("chain-of-thought answer", text, "no 'The answer is ...'")
            text = m.group(1)
        cleaned = text.strip()
        cleaned = cleaned[:-1].rstrip() if cleaned.endswith(".") else cleaned
        return _as_text(self.inner.parse(cleaned or text, choices=choices))


class ChainOfThought(Node):
    """``reason.chain_of_thought``: zero- or few-shot CoT, optionally with self-consistency.

    Composed of ``llm.generate`` steps (so ``reask``, the graph's prompt folders and the cache
    apply) and ``vote.majority``. Options: ``model`` (an LLM), ``samples`` (k reasoning paths;
    > 1 is self-consistency), ``temperature`` (default 0 for one sample, 0.7 for several),
    ``max_tokens``, ``parse`` (how to read each extracted answer: ``text``, ``number``,
    ``{choice: [...]}`` ...), ``reask``. Inputs: ``question``, and ``exemplars`` (a list of
    ``{question, reasoning, answer}``; when given, few-shot CoT is used). Outputs: ``answer``
    (the vote's winner), ``answers`` (one per path), ``reasoning`` (one per path), ``votes``.
    """

    model_kind = "llm"
    context_options = ("prompt_dirs",)
    outputs = {"answer": str, "answers": list[str], "reasoning": list[str], "votes": dict[str, int]}

    def __init__(self, model: LLM, samples: int = 1, temperature: float | None = None,
                 max_tokens: int = 256, parse: Any = "text", reask: int = 0,
                 prompt_dirs: list[str] | None = None) -> None:
        if samples < 1:
            raise GraphError("reason.chain_of_thought: samples must be at least 1")
        self.model = model
        self.samples = samples
        temperature = temperature if temperature is not None else (0.7 if samples > 1 else 0.0)
        parser = make_parser(parse)
        paths = {"n": samples, "temperature": temperature, "max_tokens": max_tokens,
                 "prompt_dirs": prompt_dirs}
        self.zero_shot = Generate(model, prompt="cot_zero_shot", **paths)
        self.few_shot = Generate(model, prompt="cot_few_shot", parse=_Cleansed(parser, True),
                                 reask=reask, **paths)
        self.extract = Generate(model, prompt="cot_answer", parse=_Cleansed(parser, False),
                                reask=reask, temperature=0, max_tokens=32, prompt_dirs=prompt_dirs)
        self.needs_choices = parser.needs_choices
        self.vote = MajorityVote()

    def input_sockets(self) -> dict[str, Socket]:
        sockets = {
            "question": Socket("question", str),
            "exemplars": Socket("exemplars", list[dict[str, Any]], None, "few-shot CoT exemplars"),
        }
        if self.needs_choices:
            sockets["choices"] = Socket("choices", list[str], REQUIRED, "labels for parse: choice")
        return sockets

    async def arun(self, question: str, exemplars: list[dict[str, Any]] | None = None,
                   choices: list[str] | None = None) -> dict[str, Any]:
        more = {"choices": choices} if self.needs_choices else {}

        def many(value: Any) -> list[Any]:
            return value if self.samples > 1 else [value]

        if exemplars:
            out = await self.few_shot.arun(question=question, exemplars=exemplars, **more)
            paths, answers = many(out["text"]), many(out["output"])
        else:
            paths = many((await self.zero_shot.arun(question=question))["text"])
            extracted = await asyncio.gather(*(
                self.extract.arun(question=question, reasoning=p.strip(), **more) for p in paths))
            answers = [e["output"] for e in extracted]
        voted = self.vote.run(answers=answers)
        return {"answer": voted["answer"], "answers": answers,
                "reasoning": [p.strip() for p in paths], "votes": voted["votes"]}

    def run_sync(self, **inputs: Any) -> dict[str, Any]:
        """Run outside a graph (``asyncio.run``)."""
        return asyncio.run(self.arun(**inputs))
