"""A CoCa built without weights starts from open_clip's intended initialisation: open_clip 3.3
leaves the multimodal decoder's ``text_projection`` as ``torch.empty`` memory (zeros in a fresh
process, NaN after other work), which made a CoCa training run learn nothing after another test."""

from __future__ import annotations

import torch

from socratic.testing import write_open_clip_arch


def test_a_random_coca_decoder_projection_is_initialised(tmp_path):
    from socratic.loaders.open_clip import load_open_clip

    arch = write_open_clip_arch(tmp_path, "socratic-test-coca-init", coca=True)
    garbage = [torch.full((4096, 4096), float("nan")) for _ in range(4)]  # dirty the allocator
    del garbage
    net = load_open_clip("socratic-test-coca-init", model_config=str(arch)).model
    proj = net.text_decoder.text_projection
    width = net.text_decoder.width
    assert torch.isfinite(proj).all()
    assert abs(float(proj.std()) - width**-0.5) < 0.25 * width**-0.5  # open_clip's normal(std=width^-0.5)
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_a_clip_without_a_decoder_is_untouched(tmp_path):
    from socratic.loaders.open_clip import initialise_coca_decoder, load_open_clip

    arch = write_open_clip_arch(tmp_path, "socratic-test-clip-init")
    net = load_open_clip("socratic-test-clip-init", model_config=str(arch)).model
    before = {k: v.clone() for k, v in net.state_dict().items()}
    initialise_coca_decoder(net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
