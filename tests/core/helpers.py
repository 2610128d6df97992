"""Small nodes and LLMs used by the core tests (registered under the ``test.`` namespace)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from socratic import Node, node
from socratic.llm.base import LLM, LLMResult, TokenUsage


@node(name="test.upper")
def upper(text: str) -> str:
    return text.upper()


@node(name="test.length")
def length(text: str) -> int:
    return len(text)


@node(name="test.add")
def add(a: float, b: float = 1.0) -> float:
    return a + b


@node(name="test.split")
def split(text: str) -> list[str]:
    return text.split()


@node(name="test.fail_on")
def fail_on(text: str, bad: str = "bad") -> str:
    if text == bad:
        raise ValueError(f"refusing {text!r}")
    return text


class Sleep(Node):
    """Async node that sleeps and records how many run at once."""

    type_name = "test.sleep"
    outputs = {"output": str}
    in_flight = 0
    peak = 0

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds

    async def arun(self, text: str) -> dict[str, Any]:
        Sleep.in_flight += 1
        Sleep.peak = max(Sleep.peak, Sleep.in_flight)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            Sleep.in_flight -= 1
        return {"output": text}


class BatchLen(Node):
    """Batchable blocking node recording batch sizes (like a CLIP image encoder)."""

    type_name = "test.batch_len"
    outputs = {"output": int}
    batchable = True
    blocking = True

    def __init__(self) -> None:
        self.batches: list[int] = []

    def run(self, text: str) -> dict[str, Any]:
        self.batches.append(1)
        return {"output": len(text)}

    def run_batch(self, calls: list[dict[str, Any]]) -> list[Any]:
        if any(c["text"] == "boom" for c in calls):
            raise ValueError("boom in batch")
        self.batches.append(len(calls))
        time.sleep(0.01)
        return [{"output": len(c["text"])} for c in calls]


class ScriptedLLM(LLM):
    """Answers from a function of the last user message; counts backend calls."""

    backend = "scripted"

    def __init__(self, answer: Any = None, **config: Any) -> None:
        super().__init__(**config)
        self.answer = answer or (lambda text, i: f"echo: {text}")
        self.calls: list[Any] = []

    async def _agenerate(self, request: Any) -> LLMResult:
        self.calls.append(request)
        text = request.as_messages()[-1]["content"]
        offset = sum(r.n for r in self.calls[:-1])
        texts = [self.answer(text, offset + i) for i in range(request.n)]
        return LLMResult(texts=texts, usage=TokenUsage(prompt_tokens=len(text.split()),
                                                       completion_tokens=request.n))
