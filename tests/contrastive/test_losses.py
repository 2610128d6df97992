"""Known answers of the contrastive losses: aligned embeddings, a direct NT-Xent computation,
the logit-scale clamp, and open_clip's ClipLoss as a second reference."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from socratic.adapters.contrastive.losses import (
    ClipLoss,
    NTXentLoss,
    clamp_logit_scale,
    clip_loss,
    gather_with_grad,
    nt_xent_loss,
)


def test_aligned_embeddings_with_a_large_scale_give_zero_loss():
    emb = torch.eye(8, 16)  # orthonormal rows: cosine 1 with the match, 0 with the rest
    loss = clip_loss(emb, emb.clone(), torch.tensor(math.log(100.0)))
    assert float(loss) < 1e-30 + 8 * math.exp(-100)  # log(1 + 7 e^-100)
    # with the scale at 1 the same embeddings still have a clear, known loss
    expected = -math.log(math.e / (math.e + 7))
    assert float(clip_loss(emb, emb, torch.tensor(0.0))) == pytest.approx(expected, rel=1e-6)


def test_misaligned_embeddings_give_a_large_loss():
    emb = torch.eye(4, 8)
    shifted = emb.roll(1, dims=0)  # every image's caption is another row
    assert float(clip_loss(emb, shifted, torch.tensor(math.log(100.0)))) > 50


def test_clip_loss_matches_open_clip():
    from open_clip.loss import ClipLoss as OpenClipLoss

    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    scale = torch.tensor(math.log(1 / 0.07))
    ref = OpenClipLoss()(F.normalize(img, dim=-1), F.normalize(txt, dim=-1), scale.exp())
    assert float(ClipLoss()(img, txt, scale)) == pytest.approx(float(ref), rel=1e-6)
    assert float(ClipLoss(local_loss=False)(img, txt, scale)) == pytest.approx(float(ref), rel=1e-6)


def test_logit_scale_is_clamped_at_100():
    assert float(clamp_logit_scale(torch.tensor(10.0))) == pytest.approx(100.0, rel=1e-6)
    assert float(clamp_logit_scale(torch.tensor(-3.0))) == pytest.approx(1.0)
    assert float(clamp_logit_scale(torch.tensor(2.0))) == pytest.approx(math.exp(2.0), rel=1e-6)
    g = torch.Generator().manual_seed(1)
    img, txt = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    at_cap = clip_loss(img, txt, torch.tensor(math.log(100.0)))
    assert float(clip_loss(img, txt, torch.tensor(12.0))) == pytest.approx(float(at_cap), rel=1e-6)
    # beyond the cap the temperature gets no gradient (it cannot drift further up)
    big = torch.tensor(12.0, requires_grad=True)
    clip_loss(img, txt, big).backward()
    assert float(big.grad) == 0.0


def test_model_clamp_keeps_the_parameter_in_range():
    import open_clip
    from socratic.adapters.contrastive.model import ContrastiveModel

    clip = open_clip.CLIP(embed_dim=8, vision_cfg={"image_size": 16, "layers": 1, "width": 16, "patch_size": 8,
                                                   "head_width": 8},
                          text_cfg={"context_length": 8, "vocab_size": 50, "width": 16, "heads": 2, "layers": 1})
    m = ContrastiveModel(clip)
    with torch.no_grad():
        clip.logit_scale.fill_(7.0)
    m.clamp_()
    assert float(clip.logit_scale.detach()) == pytest.approx(math.log(100.0))


def _nt_xent_reference(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """The lecture's formula, one term at a time: l(i, j) = -log e^{s_ij} / sum_{k != i} e^{s_ik}."""
    z = torch.cat([z1, z2]).double()
    n = z1.shape[0]
    sim = [[float(F.cosine_similarity(z[i], z[k], dim=0)) / tau for k in range(2 * n)] for i in range(2 * n)]
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        denom = sum(math.exp(sim[i][k]) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(sim[i][j]) / denom)
    return total / (2 * n)


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_nt_xent_matches_a_direct_computation(tau):
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    expected = _nt_xent_reference(z1, z2, tau)
    assert float(nt_xent_loss(z1, z2, tau)) == pytest.approx(expected, rel=1e-5)
    assert float(NTXentLoss(tau, local_loss=False)(z1, z2)) == pytest.approx(expected, rel=1e-5)


def test_nt_xent_uses_2n_minus_2_negatives():
    # two identical views and mutually orthogonal examples: the positive has cosine 1, the 2N-2
    # negatives 0, and the view itself (cosine 1) must not count: loss = log(1 + (2N-2) e^{-1/tau})
    n, tau = 4, 0.5
    z = torch.eye(n, 8)
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / tau))
    assert float(nt_xent_loss(z, z.clone(), tau)) == pytest.approx(expected, rel=1e-6)


def test_gather_without_a_process_group_is_the_identity():
    x = torch.randn(3, 4)
    assert gather_with_grad(x) is x
    with pytest.raises(ValueError):
        NTXentLoss(tau=0.0)
