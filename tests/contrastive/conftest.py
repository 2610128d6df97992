"""Session fixtures for contrastive tests: a tiny open_clip architecture (JSON) and one tiny CLIP
trained from scratch (``uu``) on the synthetic shapes, shared by the tests that need a
"pretrained" tower. Built once per session (about 40 s on 2 cores)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from socratic.testing import write_open_clip_arch

#: the kit's default tiny ViT image tower + text transformer over the real CLIP BPE vocabulary
ARCH_NAME = "socratic-contrastive-test"
#: 12 classes: one coloured shape per image, captions "a red circle" (half with "a photo of ...")
SHAPES = {"n_train": 2000, "n_val": 240, "n_objects": 1, "seed": 0, "image_size": 32}
TEMPLATES = ["{}", "a photo of {}."]


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    import torch

    torch.set_num_threads(1)  # 2 shared cores
    logging.getLogger().setLevel(logging.ERROR)  # open_clip warns "no pretrained weights" per build


@pytest.fixture(scope="session")
def arch_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_open_clip_arch(tmp_path_factory.mktemp("contrastive-arch"), ARCH_NAME)


def make_config(arch_file: Path, out: Path, mode: str = "uu", **top: Any) -> dict[str, Any]:
    """A run config as a mapping (tests change what they need)."""
    train = {"output_dir": str(out), "max_steps": 300, "batch_size": 64, "lr": 1e-3, "warmup_steps": 10,
             "log_every": 50, "progress_bar": False, "cpu": True, "resume": False, "seed": 0}
    train.update(top.pop("train", {}))
    cfg = {"task": "contrastive", "mode": mode, "arch": str(arch_file), "name": ARCH_NAME,
           "data": {"source": "shapes", "shapes": dict(SHAPES), "caption_templates": TEMPLATES},
           "eval": {"templates": ["a photo of a {}."]}, "train": train}
    cfg.update(top)
    return cfg


@pytest.fixture(scope="session")
def uu_run(arch_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny CLIP trained from scratch on the shapes: 300 steps of 64 pairs."""
    from socratic.adapters.contrastive import ContrastiveConfig, train_contrastive

    out = tmp_path_factory.mktemp("uu")
    result = train_contrastive(ContrastiveConfig.model_validate(make_config(arch_file, out)))
    return result
