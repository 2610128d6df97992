"""Captions from an open_clip CoCa model (Yu et al. 2022, "CoCa: Contrastive Captioners").

CoCa's own text decoder writes the caption, attending to the image tokens; the image is encoded
once per batch. open_clip 3.3's ``CoCa.generate`` needs transformers' ``BeamSearchScorer``, which
transformers 5 removed, so decoding is done here on the model's own ``forward`` (greedy, beam
search with length-normalised scores, or nucleus sampling), starting from CoCa's start token and
stopping at its end token.

Example:
    >>> from socratic.vision.base import CaptionOptions
    >>> coca_captions(coca_model, pixels, CaptionOptions(strategy="beam", num_beams=3))  # doctest: +SKIP
    [['a red circle']]
"""

from __future__ import annotations

from typing import Any

SOT, EOT = 49406, 49407  # open_clip's start / end of text


def is_coca_config(model_cfg: dict[str, Any] | None) -> bool:
    """An open_clip model config with a multimodal (captioning) decoder is a CoCa.

    Example:
        >>> is_coca_config({"multimodal_cfg": {"width": 512}}), is_coca_config({"vision_cfg": {}})
        (True, False)
    """
    return bool(model_cfg) and "multimodal_cfg" in model_cfg  # type: ignore[operator]


def _next_logits(model: Any, pixels: Any, latent: Any, embs: Any, tokens: Any) -> Any:
    out = model(pixels, tokens, image_latent=latent, image_embs=embs, output_labels=False)
    return out["logits"][:, -1].float()


def coca_captions(model: Any, pixels: Any, opts: Any) -> list[list[str]]:
    """``opts.num_captions`` captions per image of ``pixels`` (a preprocessed batch)."""
    import torch
    from open_clip import decode

    with torch.inference_mode():
        latent, embs = model._encode_image(pixels)  # what CoCa.generate does: encode once
        k = opts.num_captions
        if opts.strategy == "beam":
            rows = [_beam(model, pixels[i : i + 1], latent[i : i + 1], embs[i : i + 1], opts)
                    for i in range(pixels.shape[0])]
        else:
            rep = (lambda t: t.repeat_interleave(k, dim=0)) if opts.strategy == "sample" else (lambda t: t)
            ids = _sample(model, rep(pixels), rep(latent), rep(embs), opts)
            per = k if opts.strategy == "sample" else 1
            rows = [ids[i * per : (i + 1) * per] for i in range(pixels.shape[0])]
    return [[_text(decode, seq) for seq in row] for row in rows]


def _sample(model: Any, pixels: Any, latent: Any, embs: Any, opts: Any) -> list[list[int]]:
    """Greedy (``strategy: greedy``) or nucleus sampling (``sample``) for a batch."""
    import torch

    generator = torch.Generator(device=pixels.device)
    if opts.seed is not None:
        generator.manual_seed(opts.seed)
    tokens = torch.full((pixels.shape[0], 1), SOT, dtype=torch.long, device=pixels.device)
    done = torch.zeros(pixels.shape[0], dtype=torch.bool, device=pixels.device)
    for _ in range(opts.max_new_tokens):
        logits = _next_logits(model, pixels, latent, embs, tokens)
        if opts.strategy == "greedy":
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / opts.temperature, -1)
            ordered, order = probs.sort(-1, descending=True)
            keep = ordered.cumsum(-1) - ordered < opts.top_p  # the nucleus (at least one token)
            ordered = ordered * keep
            pick = torch.multinomial(ordered / ordered.sum(-1, keepdim=True), 1, generator=generator)
            nxt = order.gather(-1, pick).squeeze(-1)
        nxt = torch.where(done, torch.full_like(nxt, EOT), nxt)
        tokens = torch.cat([tokens, nxt[:, None]], 1)
        done |= nxt == EOT
        if bool(done.all()):
            break
    return tokens[:, 1:].tolist()


def _beam(model: Any, pixels: Any, latent: Any, embs: Any, opts: Any) -> list[list[int]]:
    """Beam search for one image; the ``num_captions`` best by mean log-probability."""
    import torch

    beams: list[tuple[list[int], float]] = [([SOT], 0.0)]
    finished: list[tuple[list[int], float]] = []
    width = max(opts.num_beams, opts.num_captions)
    for _ in range(opts.max_new_tokens):
        tokens = torch.tensor([b for b, _ in beams], device=pixels.device)
        n = len(beams)
        logp = torch.log_softmax(_next_logits(model, pixels.expand(n, *pixels.shape[1:]),
                                              latent.expand(n, *latent.shape[1:]),
                                              embs.expand(n, *embs.shape[1:]), tokens), -1)
        candidates = []
        for (seq, score), row in zip(beams, logp, strict=True):
            values, ids = row.topk(width)
            candidates += [([*seq, int(i)], score + float(v)) for v, i in zip(values, ids, strict=True)]
        candidates.sort(key=lambda c: c[1] / (len(c[0]) - 1), reverse=True)
        beams = []
        for seq, score in candidates:
            (finished if seq[-1] == EOT else beams).append((seq, score))
            if len(beams) == width:
                break
        if len(finished) >= width or not beams:
            break
    best = sorted(finished + beams, key=lambda c: c[1] / (len(c[0]) - 1), reverse=True)
    return [seq[1:] for seq, _ in best[: opts.num_captions]]


def _text(decode: Any, ids: list[int]) -> str:
    import torch

    ids = ids[: ids.index(EOT)] if EOT in ids else ids
    return decode(torch.tensor([i for i in ids if i not in (SOT, EOT, 0)], dtype=torch.long)).strip()
