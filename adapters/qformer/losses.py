"""BLIP-2 stage-1 objectives as small functions of tensors (Li et al. 2023; LAVIS
``blip2_qformer.py``), so each definition can be checked on numbers worked out by hand.

- ITC, image-text contrastive: the similarity of an image and a text is the **maximum** over
  the queries of (query feature . text [CLS] feature) / temperature; cross-entropy with label
  smoothing 0.1 in both directions, averaged.
- ITM, image-text matching: for every text a negative image and for every image a negative
  text are drawn from the softmax of the (temperature-scaled) similarities with the positive
  pair masked out (hard negatives); B positive pairs and 2B negative pairs, a 2-way classifier
  on the mean of the query outputs.
- ITG, image-grounded text generation: the Q-Former's text decoder; queries attend to queries
  only, text tokens to all queries and to earlier text; the first text token ([CLS]) is
  replaced by [DEC]; cross-entropy with label smoothing 0.1 on the next token.

Example:
    >>> import torch
    >>> img = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [0.6, 0.8]]])
    >>> txt = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> loss, sim = itc_loss(img, txt, torch.tensor(0.1))
    >>> sim
    tensor([[10., 10.],
            [ 6.,  8.]])
    >>> itg_attention_mask(1, torch.tensor([[1, 1]])).int().tolist()
    [[[1, 0, 0], [1, 1, 0], [1, 1, 1]]]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "hard_negatives",
    "itc_loss",
    "itg_attention_mask",
    "itg_inputs",
    "itg_loss",
    "itm_labels",
    "itm_loss",
    "itm_pairs",
]


def itc_loss(
    image_feats: torch.Tensor, text_feats: torch.Tensor, temp: torch.Tensor, label_smoothing: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, sim_i2t)`` from L2-normalised query features ``[B, Q, E]`` and text features
    ``[B, E]``; ``sim_i2t[i, j] = max_q <image_i,q, text_j> / temp`` (``sim_t2i`` is its
    transpose); pair i is image i with text i."""
    sim_i2t = torch.einsum("iqe,je->ijq", image_feats, text_feats).amax(-1) / temp
    target = torch.arange(sim_i2t.shape[0], device=sim_i2t.device)
    loss = (F.cross_entropy(sim_i2t, target, label_smoothing=label_smoothing)
            + F.cross_entropy(sim_i2t.t(), target, label_smoothing=label_smoothing)) / 2
    return loss, sim_i2t


@torch.no_grad()
def hard_negatives(
    sim_i2t: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(negative image of each text, negative text of each image)``, each drawn from the
    softmax of that row of similarities with the positive pair excluded (LAVIS fills it with
    -10000 before the softmax)."""
    b = sim_i2t.shape[0]
    if b < 2:
        raise ValueError("ITM hard negatives need a batch of at least 2 pairs")
    eye = torch.eye(b, dtype=torch.bool, device=sim_i2t.device)
    weights_t2i = F.softmax(sim_i2t.t().float().masked_fill(eye, -10000.0), dim=1)
    weights_i2t = F.softmax(sim_i2t.float().masked_fill(eye, -10000.0), dim=1)
    neg_image = torch.multinomial(weights_t2i, 1, generator=generator).squeeze(1)
    neg_text = torch.multinomial(weights_i2t, 1, generator=generator).squeeze(1)
    return neg_image, neg_text


def itm_pairs(neg_image: torch.Tensor, neg_text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index rows ``(images, texts)`` of the 3B ITM pairs in LAVIS's order: B positives
    (image i, text i), B (negative image of text i, text i), B (image i, negative text of
    image i)."""
    ar = torch.arange(neg_image.shape[0], device=neg_image.device)
    return torch.cat([ar, neg_image, ar]), torch.cat([ar, ar, neg_text])


def itm_labels(b: int, device: torch.device | str | None = None) -> torch.Tensor:
    """1 for the B positive pairs, 0 for the 2B negatives."""
    return torch.cat([torch.ones(b), torch.zeros(2 * b)]).long().to(device)


def itm_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``[3B, 2]`` match logits (pairs as :func:`itm_pairs`)."""
    return F.cross_entropy(logits, itm_labels(logits.shape[0] // 3, logits.device))


def itg_attention_mask(num_queries: int, text_mask: torch.Tensor) -> torch.Tensor:
    """Boolean ``[B, Q+T, Q+T]`` (True: may attend): queries see all queries and no text; text
    token t sees every query and the non-padding text tokens 0..t (LAVIS's decoder mask)."""
    b, t = text_mask.shape
    q = num_queries
    dev = text_mask.device
    allowed = torch.zeros(b, q + t, q + t, dtype=torch.bool, device=dev)
    allowed[:, :q, :q] = True
    allowed[:, q:, :q] = True
    causal = torch.ones(t, t, dtype=torch.bool, device=dev).tril()
    allowed[:, q:, q:] = causal & text_mask.bool()[:, None, :]
    return allowed


def itg_inputs(
    text_ids: torch.Tensor, text_mask: torch.Tensor, bos_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(decoder input ids, labels)``: the [CLS] at position 0 becomes [DEC] (``bos_id``);
    labels are the input ids with padding set to -100 (position 0 is dropped by the shift)."""
    dec = text_ids.clone()
    dec[:, 0] = bos_id
    return dec, dec.masked_fill(text_mask == 0, -100)


def itg_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.1) -> torch.Tensor:
    """Next-token cross-entropy with label smoothing: logits at t predict label t+1."""
    shifted = logits[:, :-1].reshape(-1, logits.shape[-1])
    return F.cross_entropy(shifted.float(), labels[:, 1:].reshape(-1), ignore_index=-100,
                           label_smoothing=label_smoothing)
