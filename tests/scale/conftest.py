"""Shared fixtures of the scale tests: a tiny Llama with the shapes tokenizer, prompt/completion
data of equal lengths (so a loss averaged per rank equals the loss of the global batch), and a
helper that runs a script under ``torchrun`` on CPU."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_text(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    from socratic.adapters.synthetic import all_captions

    from socratic.testing import make_tiny_lm, train_tokenizer

    root = tmp_path_factory.mktemp("scale")
    tok = train_tokenizer(all_captions(2) + all_captions(1) + ["a picture of", "Caption:"], chat_template=None)
    lm = make_tiny_lm(root / "llama", "llama", tokenizer=tok, width=32, init_std=0.02)
    rng = random.Random(0)
    captions = all_captions(1)  # 12 captions of 3 tokens each: every row has the same length
    rows = [{"prompt": "Caption:", "completion": " " + rng.choice(captions)} for _ in range(64)]
    data = root / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return SimpleNamespace(root=root, lm=str(lm), data=str(data), tokenizer=tok)


def lora_config(tiny_text: SimpleNamespace, out: Path | str, **train: object) -> dict:
    """A ``task: lora`` config (as a mapping) on the tiny Llama, LoRA without dropout."""
    return {
        "task": "lora",
        "lm": {"path": tiny_text.lm, "tune": "lora",
               "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}},
        "data": {"train": tiny_text.data, "max_text_tokens": 16},
        "train": {"output_dir": str(out), "max_steps": 10, "batch_size": 4, "lr": 3e-3, "cpu": True,
                  "progress_bar": False, "tensorboard": False, "log_every": 1, **train},
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(args: list[str], nproc: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        [*TORCHRUN, "--nproc_per_node", str(nproc), "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()), *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )
