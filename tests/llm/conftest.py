"""Fixtures for the LLM backend tests.

A fault-injecting fake OpenAI server (per test), tiny local models built once per session, and
`transformers serve` (once per session, on 127.0.0.1), loading the model each request names:
the tiny Llama, or the tiny LLaVA for image requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from socratic.testing import FakeOpenAIServer, make_lora_adapter, make_tiny_lm, make_tiny_vlm

# retry waits small enough for tests, large enough to measure
FAST_RETRIES = {"backoff_initial": 0.02, "backoff_max": 0.04, "retry_after_max": 2.0}


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["tiny"]) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_gpt2(tiny_dir) -> Path:
    return make_tiny_lm(tiny_dir / "gpt2", "gpt2")


@pytest.fixture(scope="session")
def tiny_llama(tiny_dir) -> Path:
    return make_tiny_lm(tiny_dir / "llama", "llama")


@pytest.fixture(scope="session")
def tiny_t5(tiny_dir) -> Path:
    return make_tiny_lm(tiny_dir / "t5", "t5")


@pytest.fixture(scope="session")
def tiny_llava(tiny_dir) -> Path:
    return make_tiny_vlm(tiny_dir / "llava", "llava")


@pytest.fixture(scope="session")
def tiny_lora(tiny_dir, tiny_gpt2) -> Path:
    return make_lora_adapter(tiny_gpt2, tiny_dir / "gpt2-lora")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    """A running `transformers serve` process and how to reach its model."""

    base_url: str
    model: str
    process: subprocess.Popen


@pytest.fixture(scope="session")
def transformers_serve(tiny_llama, tmp_path_factory) -> Iterator[Served]:
    """`transformers serve` on 127.0.0.1 (started once, stopped by PID); it loads the model a
    request names (a local folder), the tiny Llama first."""
    exe = Path(sys.executable).with_name("transformers")
    assert exe.exists(), "the transformers CLI (transformers[serving], in .[dev]) is missing"
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited ({proc.returncode}):\n"
                            f"{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready after 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield Served(f"http://127.0.0.1:{port}/v1", str(tiny_llama), proc)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
