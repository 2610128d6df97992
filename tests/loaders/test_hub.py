"""One set of messages for every family: a hub id offline, a missing or broken local directory."""

from __future__ import annotations

import os
import time

import pytest

from socratic.errors import ModelLoadError
from socratic.loaders import load_hf_clip, load_hf_image_to_text, load_hf_lm, load_open_clip
from socratic.loaders.hub import hf_identity, looks_like_path, stat_identity

HF_LOADERS = {
    "hf model": load_hf_lm,
    "hf_clip model": load_hf_clip,
    "hf_captioner model": load_hf_image_to_text,
}


@pytest.mark.parametrize("what", list(HF_LOADERS))
def test_offline_hub_id_fails_fast_with_the_one_message(what):
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # set for the whole test session
    start = time.perf_counter()
    with pytest.raises(ModelLoadError) as err:
        HF_LOADERS[what]("some-org/not-downloaded")
    assert time.perf_counter() - start < 20  # a hub attempt would retry for ~24 s
    assert str(err.value).startswith(
        f"cannot load {what}: could not fetch hub id 'some-org/not-downloaded' (HF_HUB_OFFLINE=1 is "
        "set); 'some-org/not-downloaded' is not a local directory and not in the local Hugging Face "
        "cache. To use a local copy, download it where there is network "
        "(`hf download some-org/not-downloaded --local-dir DIR`) and set model: DIR. Cause: "
    )
    assert err.value.__cause__ is None  # the retry chain of the hub client is noise


def test_adapters_name_their_own_config_key():
    from socratic.adapters.config import LMConfig
    from socratic.adapters.lm import load_lm

    with pytest.raises(ModelLoadError, match=r"cannot load LM: could not fetch .* and set lm\.path: DIR"):
        load_lm(LMConfig(path="some-org/not-downloaded"))


@pytest.mark.parametrize("model, pretrained, fetched", [
    ("ViT-B-32", "laion2b_s34b_b79k", "open_clip 'ViT-B-32' weights 'laion2b_s34b_b79k'"),
    ("hf-hub:laion/nope", None, "open_clip 'hf-hub:laion/nope'"),
])
def test_offline_open_clip_says_how_to_point_at_local_weights(monkeypatch, model, pretrained, fetched):
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    start = time.perf_counter()
    with pytest.raises(ModelLoadError) as err:
        load_open_clip(model, pretrained)
    assert time.perf_counter() - start < 20  # a hub attempt would retry for ~24 s
    msg = str(err.value)
    assert msg.startswith(f"cannot load open_clip model: could not fetch {fetched} (HF_HUB_OFFLINE=1 is set)")
    assert "pretrained: /path/to/open_clip_model.safetensors" in msg and "model: local-dir:" in msg


@pytest.mark.parametrize("what", list(HF_LOADERS))
def test_missing_and_broken_local_directories(what, tmp_path):
    missing = tmp_path / "nothing-here"
    with pytest.raises(ModelLoadError, match=f"^cannot load {what}: local directory not found: {missing}$"):
        HF_LOADERS[what](str(missing))
    (tmp_path / "notes.txt").write_text("no config here")
    with pytest.raises(ModelLoadError, match=f"^{what}: cannot load from local directory {tmp_path}: "):
        HF_LOADERS[what](str(tmp_path))


def test_references_and_identities(tmp_path):
    assert [looks_like_path(r) for r in ("gpt2", "org/name", "./m", "/m", "~/m", "a/b/c")] == [
        False, False, True, True, True, True]
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "notes.md").write_text("ignored")
    before = hf_identity(str(tmp_path))
    assert "config.json:2:" in before and "notes.md" not in before
    assert hf_identity("org/name") == "hub:org/name"
    (tmp_path / "config.json").write_text("{ }")
    assert hf_identity(str(tmp_path)) != before
    assert stat_identity(tmp_path / "notes.md").endswith("[notes.md:7:" + str(
        (tmp_path / "notes.md").stat().st_mtime_ns) + "]")
