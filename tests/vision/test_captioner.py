"""hf_captioner on a tiny BLIP: decoding modes, batching, prompts, options, bad inputs."""

from __future__ import annotations

import time

import pytest

from socratic.errors import InputError, ModelLoadError, SocraticError
from socratic.models import build_backend
from socratic.vision.captioner import HFCaptioner


@pytest.fixture(scope="module")
def captioner(tiny_blip) -> HFCaptioner:
    return HFCaptioner(model=str(tiny_blip), max_new_tokens=6, batch_size=2, device="cpu")


@pytest.fixture(scope="module")
def blip_raw(tiny_blip):
    from transformers import BlipForConditionalGeneration, BlipProcessor

    return (BlipForConditionalGeneration.from_pretrained(tiny_blip).eval(),
            BlipProcessor.from_pretrained(tiny_blip))


def _pils(paths):
    from PIL import Image

    return [Image.open(p).convert("RGB") for p in paths]


def test_registered_backend(tiny_blip):
    cap = build_backend({"backend": "hf_captioner", "model": str(tiny_blip)})
    assert isinstance(cap, HFCaptioner) and cap.kind == "captioner" and not cap.loaded


def test_greedy_matches_transformers(captioner, blip_raw, real_images):
    import torch

    model, proc = blip_raw
    caps = captioner.caption(real_images[:3])
    assert [len(c) for c in caps] == [1, 1, 1]
    with torch.no_grad():
        ids = model.generate(**proc(images=_pils(real_images[:3]), return_tensors="pt"),
                             max_new_tokens=6, num_beams=1, do_sample=False)
    expected = [t.strip() for t in proc.batch_decode(ids, skip_special_tokens=True)]
    assert [c[0] for c in caps] == expected
    assert all(c[0] for c in caps)  # the tiny vocabulary decodes to words


def test_beam_returns_num_captions_best_first(captioner, blip_raw, real_images):
    import torch

    model, proc = blip_raw
    caps = captioner.caption(real_images[:3], strategy="beam", num_beams=3, num_captions=2)
    assert [len(c) for c in caps] == [2, 2, 2]
    with torch.no_grad():
        ids = model.generate(**proc(images=_pils(real_images[2:3]), return_tensors="pt"),
                             max_new_tokens=6, num_beams=3, num_return_sequences=2)
    assert caps[2] == [t.strip() for t in proc.batch_decode(ids, skip_special_tokens=True)]


def test_sampling_is_reproducible_with_a_seed(captioner, real_images):
    import torch

    before = torch.random.get_rng_state()
    opts = {"strategy": "sample", "num_captions": 3, "temperature": 1.5, "top_p": 1.0}
    a = captioner.caption(real_images[:3], seed=7, **opts)
    b = captioner.caption(real_images[:3], seed=7, **opts)
    c = captioner.caption(real_images[:3], seed=8, **opts)
    assert [len(x) for x in a] == [3, 3, 3]
    assert a == b
    assert a != c
    assert len({s for caps in a for s in caps}) > 1  # samples differ from one another
    assert torch.equal(torch.random.get_rng_state(), before)  # global RNG untouched


def test_batch_size_does_not_change_greedy_or_beam(tiny_blip, real_images):
    one = HFCaptioner(model=str(tiny_blip), max_new_tokens=6, batch_size=1)
    five = HFCaptioner(model=str(tiny_blip), max_new_tokens=6, batch_size=5)
    assert one.caption(real_images[:5]) == five.caption(real_images[:5])
    beam = {"strategy": "beam", "num_beams": 2, "num_captions": 2}
    assert one.caption(real_images[:3], **beam) == five.caption(real_images[:3], **beam)


def test_prompt_conditions_the_caption(captioner, real_images):
    caps = captioner.caption(real_images[:2], prompt="a photo of")
    assert all(c[0].startswith("a photo of") for c in caps)


def test_backend_defaults_and_overrides(tiny_blip, real_images):
    cap = HFCaptioner(model=str(tiny_blip), strategy="beam", num_beams=2, num_captions=2,
                      max_new_tokens=4)
    assert [len(c) for c in cap.caption(real_images[:1])] == [2]
    assert [len(c) for c in cap.caption(real_images[:1], strategy="greedy", num_captions=1)] == [1]


def test_inconsistent_options_are_refused(captioner, real_images):
    with pytest.raises(InputError, match="greedy decoding gives one caption"):
        captioner.caption(real_images[:1], num_captions=2)
    with pytest.raises(InputError, match=r"num_captions \(5\) must be <= num_beams \(2\)"):
        captioner.caption(real_images[:1], strategy="beam", num_beams=2, num_captions=5)
    with pytest.raises(InputError, match="temperature"):
        captioner.caption(real_images[:1], strategy="sample", temperature=0)
    with pytest.raises(InputError, match="num_beam"):
        captioner.caption(real_images[:1], num_beam=3)  # typo: unknown option


def test_unreadable_image_is_named(captioner, tmp_path, real_images):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG broken")
    with pytest.raises(SocraticError, match="corrupt.png"):
        captioner.caption([real_images[0], bad])


def test_offline_hub_id_fails_fast():
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="could not fetch hub id 'Salesforce/blip-image-"
                       "captioning-base'.*local directory"):
        HFCaptioner(model="Salesforce/blip-image-captioning-base").caption([])
    assert time.perf_counter() - start < 20  # a hub attempt would retry for ~24 s


def test_empty_list(captioner):
    assert captioner.caption([]) == []


def test_git_decoder_only_captioner(tiny_git, real_images):
    cap = HFCaptioner(model=str(tiny_git), max_new_tokens=4)
    assert type(cap.resource().model).__name__ == "GitForCausalLM"
    assert [len(c) for c in cap.caption(real_images[:2])] == [1, 1]
    beams = cap.caption(real_images[:2], strategy="beam", num_beams=2, num_captions=2)
    assert [len(c) for c in beams] == [2, 2]
    prompted = cap.caption(real_images[:2], prompt="a photo of")
    assert all(c[0].startswith("a photo of") for c in prompted)
