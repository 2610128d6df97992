"""Fixtures for the vision-language tests: tiny VLMs (LLaVA, Qwen2-VL, BLIP-2) and a tiny text
LM built once per session, small image files, and the fake OpenAI server per test."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from socratic.llm import images as image_memo
from socratic.testing import FakeOpenAIServer, make_tiny_lm, make_tiny_vlm


@pytest.fixture(autouse=True)
def _fresh_image_memo() -> None:
    image_memo.clear_memo()


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def vlms(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("tiny-vlms")
    return SimpleNamespace(
        llava=str(make_tiny_vlm(root / "llava", "llava")),
        qwen2_vl=str(make_tiny_vlm(root / "qwen2_vl", "qwen2_vl")),
        blip2=str(make_tiny_vlm(root / "blip2", "blip2")),
        llama=str(make_tiny_lm(root / "llama", "llama")),
    )


@pytest.fixture(scope="session")
def pictures(tmp_path_factory) -> SimpleNamespace:
    """PNG and JPEG files of plain shapes (each a different picture)."""
    from PIL import Image, ImageDraw

    root = tmp_path_factory.mktemp("pictures")

    def draw(name: str, color: str, size: tuple[int, int], shape: str = "ellipse") -> str:
        im = Image.new("RGB", size, "white")
        box = (size[0] // 5, size[1] // 5, 4 * size[0] // 5, 4 * size[1] // 5)
        getattr(ImageDraw.Draw(im), shape)(box, fill=color)
        path = root / name
        im.save(path)
        return str(path)

    return SimpleNamespace(
        root=root,
        red=draw("red.png", "red", (64, 48)),
        blue=draw("blue.png", "blue", (48, 64), "rectangle"),
        green=draw("green.jpg", "green", (80, 80)),
        big=draw("big.png", "purple", (1024, 512)),
    )
