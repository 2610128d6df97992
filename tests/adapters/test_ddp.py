"""A 2-process DDP run on CPU (gloo through torchrun) trains and both ranks agree."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import run_config

pytestmark = pytest.mark.slow


def test_torchrun_two_processes_train_and_agree(tiny, tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    cfg = run_config(
        tiny, tmp_path / "out", {"type": "clipcap", "mapping": "mlp", "prefix_length": 4},
        data={"train": tiny.train_jsonl, "val": None, "feature_cache": str(tiny.root / "fc")},
        train={"max_steps": 8, "batch_size": 8, "grad_accum": 2, "save_every": 8},
    )
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with socket.socket() as sock:  # a free port: other runs may use the default one
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(port), "-m",
         "socratic", "train", str(config)],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["world_size"] == 2 and state["step"] == 8
    assert len(state["rank_digests"]) == 2 and len(set(state["rank_digests"])) == 1
    ckpt = tmp_path / "out" / "checkpoints" / "step-0000008"
    assert (ckpt / "rng-0.pt").exists() and (ckpt / "rng-1.pt").exists()
    assert (tmp_path / "out" / "bridge" / "bridge.safetensors").exists()
