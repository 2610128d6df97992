"""Fixtures for the vision-language tests: tiny VLMs (LLaVA, Qwen2-VL, BLIP-2) and a tiny text
LM built once per session, small image files, the fake OpenAI server per test, and
`transformers serve` on the tiny LLaVA (once per session, on 127.0.0.1)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served_vlm(vlms, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """`transformers serve` on the tiny LLaVA folder (started once, stopped by its PID)."""
    exe = Path(sys.executable).with_name("transformers")
    assert exe.exists(), "the transformers CLI (transformers[serving], in .[dev]) is missing"
    port = _free_port()
    log = tmp_path_factory.mktemp("serve-vlm") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", vlms.llava, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready after 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield SimpleNamespace(base_url=f"http://127.0.0.1:{port}/v1", model=vlms.llava)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
