"""A 2-process DDP run on CPU (gloo through torchrun) trains and both ranks agree."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import yaml

from .conftest import run_config

pytestmark = pytest.mark.slow

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]  # `torchrun` with this interpreter


def test_torchrun_two_processes_train_and_agree(tiny, tmp_path):
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
        [*TORCHRUN, "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(port), "-m",
         "socratic", "train", str(config)],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["world_size"] == 2 and state["step"] == 8
    assert len(state["rank_digests"]) == 2 and len(set(state["rank_digests"])) == 1
    ckpt = tmp_path / "out" / "checkpoints" / "step-0000008"
    assert (ckpt / "random_states_0.pkl").exists() and (ckpt / "random_states_1.pkl").exists()
    assert (tmp_path / "out" / "bridge" / "bridge.safetensors").exists()
    # the schedule counts optimizer steps, whatever the number of processes: warmup 10, step 8
    last = (tmp_path / "out" / "train_log.csv").read_text().splitlines()[-1].split(",")
    assert last[0] == "8" and float(last[2]) == pytest.approx(2e-3 * 8 / 10)


PRECISION_CHANGE = """
import sys
from socratic.adapters.config import TrainConfig
from socratic.adapters.train import make_accelerator
from socratic.errors import TrainingError

make_accelerator(TrainConfig(output_dir=sys.argv[1], cpu=True))
make_accelerator(TrainConfig(output_dir=sys.argv[1], cpu=True))  # the same settings again: fine
try:
    make_accelerator(TrainConfig(output_dir=sys.argv[1], cpu=True, mixed_precision="bf16"))
except TrainingError as e:
    print("TrainingError:", e, flush=True)
"""


def test_another_precision_in_a_distributed_process_is_a_clear_error(tmp_path):
    script = tmp_path / "change.py"
    script.write_text(PRECISION_CHANGE)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.run(
        [*TORCHRUN, "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(port),
         str(script), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    # one error per rank (their prints may share a line: count the messages, not the lines)
    assert proc.stdout.count("TrainingError:") == 2, proc.stdout
    assert proc.stdout.count("differ from what this distributed process started with (no, cpu)") == 2
