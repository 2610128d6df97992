"""Test models for the Ray engine tests. Ray workers cannot import test modules, so this
module is sent to them by value (``register_pickle_by_value`` in conftest.py)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from socratic.llm.base import LLM, LLMConfig, LLMResult
from socratic.models import register_backend
from socratic.node import node
from socratic.types import Image


class ScriptedLLM(LLM):
    """Answers by the prompt's kind (descriptor bullets, captions, reasoning, answers), as the
    vision example tests do; deterministic, so both engines must agree."""

    backend: ClassVar[str] = "ray-scripted"

    async def _agenerate(self, request):
        text = request.as_messages()[-1]["content"]
        if "useful features" in text:
            category = text.rsplit("there is a ", 1)[1].split(" in a photo")[0]
            answer = f" {category}-shaped\n- has {category} parts\n- a typical {category}"
        elif "captioning bot" in text:
            return LLMResult(texts=[f"caption number {i} {len(text) % 7}" for i in range(request.n)])
        elif "how many" in text.lower():
            answer = f"Counting as asked ({len(text) % 5} steps). The answer is {11 + len(text) % 3}."
        elif text.endswith("step by step."):
            answer = "The description mentions a spacesuit."
        else:
            answer = " a spacesuit."
        return LLMResult(texts=[answer] * request.n)


class LogConfig(LLMConfig):
    log: str = Field(..., description="folder where loads and batches are recorded")
    tag: str = "m"


class LoggingLLM(LLM):
    """Echoes ``TAG(pid): prompt``; records each load (pid) and each batch size in ``log``.
    Has ``agenerate_batch``, so llm.generate nodes on it are batchable (real batches)."""

    backend: ClassVar[str] = "ray-logging"
    Config: ClassVar[type[LogConfig]] = LogConfig
    config: LogConfig

    def _load(self) -> str:
        _append(self.config.log, f"load-{self.config.tag}", str(os.getpid()))
        return "loaded"

    async def agenerate_batch(self, requests):
        self.resource()
        _append(self.config.log, f"batch-{self.config.tag}", str(len(requests)))
        return list(await asyncio.gather(*(self.agenerate(r) for r in requests)))

    async def _agenerate(self, request):
        self.resource()
        text = request.as_messages()[-1]["content"]
        if "FAIL" in text:
            raise RuntimeError(f"cannot answer {text!r}")
        return LLMResult(texts=[f"{self.config.tag}({os.getpid()}): {text}"] * request.n)


def _append(folder: str, name: str, line: str) -> None:
    with open(Path(folder) / name, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def log_lines(folder: str | os.PathLike[str], name: str) -> list[str]:
    path = Path(folder) / name
    return path.read_text().split() if path.exists() else []


@node(name="test_ray.pid")
def pid(text: str) -> int:
    """The process that ran this light node."""
    return os.getpid()


@node(name="test_ray.size")
def size(image: Image) -> list[int]:
    """A light node that opens the image (no model)."""
    return list(image.pil().size)


@node(name="test_ray.explode")
def explode(text: str) -> str:
    if "boom" in text:
        raise ValueError(f"exploded on {text!r}")
    return text[::-1]


register_backend("ray-scripted", "llm", ScriptedLLM)
register_backend("ray-logging", "llm", LoggingLLM)
