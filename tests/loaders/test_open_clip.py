"""load_open_clip / build_open_clip on a tiny open_clip model: every way of naming weights."""

from __future__ import annotations

import json

import pytest
import torch

from socratic.errors import ModelLoadError
from socratic.loaders import OpenClip, build_open_clip, load_open_clip, resolve_open_clip


def _same_weights(a: OpenClip, b: OpenClip) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_local_dir_export_loads_with_its_tokenizer(open_clip_models, image):
    from PIL import Image

    clip = load_open_clip(f"local-dir:{open_clip_models.export}")
    assert clip.arch == f"local-dir:{open_clip_models.export}" and clip.device == "cpu"
    assert clip.preprocess_cfg["size"] == (32, 32) and not clip.model.training
    tokens = clip.tokenizer(["a photo of a cat"])
    assert tokens.shape == (1, 16)  # the export's context length
    with torch.no_grad():
        img = clip.model.encode_image(clip.preprocess(Image.open(image)).unsqueeze(0))
        txt = clip.model.encode_text(tokens)
    assert img.shape == txt.shape == (1, 32)


def test_same_weights_by_arch_file_checkpoint_or_directory(open_clip_models):
    export = load_open_clip(f"local-dir:{open_clip_models.export}")
    arch = open_clip_models.arch_file.stem
    by_file = load_open_clip(arch, str(open_clip_models.checkpoint),
                             model_config=str(open_clip_models.arch_file))
    assert by_file.arch == arch and by_file.model_cfg["embed_dim"] == 32
    by_dir = load_open_clip(arch, str(open_clip_models.export))  # a directory with an export
    assert _same_weights(export, by_file) and _same_weights(export, by_dir)
    assert resolve_open_clip(arch, str(open_clip_models.checkpoint)) == (
        arch, str(open_clip_models.checkpoint), "file")
    assert resolve_open_clip(arch) == (arch, None, "none")


def test_image_size_override(open_clip_models):
    clip = load_open_clip(f"local-dir:{open_clip_models.export}", image_size=48)
    assert clip.preprocess_cfg["size"] in (48, (48, 48))


def test_resolution_errors(open_clip_models, tmp_path):
    with pytest.raises(ModelLoadError, match=r"'ViT-B-3' is unknown; did you mean: .*ViT-B-32"):
        resolve_open_clip("ViT-B-3")
    with pytest.raises(ModelLoadError, match="local directory not found: .*nowhere"):
        load_open_clip(f"local-dir:{tmp_path / 'nowhere'}")
    with pytest.raises(ModelLoadError, match="checkpoint not found: .*nope.pt"):
        load_open_clip("ViT-B-32", str(tmp_path / "nope.pt"))
    with pytest.raises(ModelLoadError, match="no checkpoint .* in directory"):
        load_open_clip("ViT-B-32", str(tmp_path))
    with pytest.raises(ModelLoadError, match="unknown pretrained tag 'laion2b_s34b_b78k'.*laion2b_s34b_b79k"):
        resolve_open_clip("ViT-B-32", "laion2b_s34b_b78k")
    with pytest.raises(ModelLoadError, match="model config file not found"):
        load_open_clip("x", model_config=str(tmp_path / "arch.json"))


def test_build_is_seeded_and_reads_every_architecture_form(open_clip_models, tmp_path):
    a = build_open_clip(str(open_clip_models.arch_file), seed=3, workdir=tmp_path / "a")
    b = build_open_clip(str(open_clip_models.arch_file), seed=3, workdir=tmp_path / "b")
    c = build_open_clip(str(open_clip_models.arch_file), seed=4, workdir=tmp_path / "c")
    assert a.arch == "loaders-tiny-clip" and (tmp_path / "a" / "loaders-tiny-clip.json").is_file()
    assert _same_weights(a, b) and not _same_weights(a, c)
    assert a.model_cfg == json.loads(open_clip_models.arch_file.read_text())
    export = build_open_clip(f"local-dir:{open_clip_models.export}", name="from-export", workdir=tmp_path)
    assert export.arch == "from-export" and export.model_cfg["text_cfg"]["context_length"] == 16
    assert build_open_clip("from-export").arch == "from-export"  # registered by name now


def test_build_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="open_clip architecture 'no-such-arch' is unknown"):
        build_open_clip("no-such-arch")
    with pytest.raises(ModelLoadError, match="architecture file not found"):
        build_open_clip(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"embed_dim": 8}))
    with pytest.raises(ModelLoadError, match="needs 'vision_cfg' and 'text_cfg'"):
        build_open_clip(str(bad))
