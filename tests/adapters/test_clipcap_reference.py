"""ClipCap against the authors' released code (CLIP_prefix_caption/train.py): the mapping
networks have the reference's parameter counts for the same sizes (computed here from the
reference's architecture, term by term), the mapper's attention is the reference's, and the
reference's caption labels (no end-of-sequence token) are available by name."""

from __future__ import annotations

import math

import pytest
import torch
from socratic.adapters.bridges import build_bridge
from socratic.adapters.config import ClipCapConfig, LMConfig


def reference_mlp_count(clip_dim: int, d: int, k: int) -> int:
    """MLP((clip_dim, d*k // 2, d*k)): two biased Linears around a Tanh."""
    h = d * k // 2
    return (clip_dim * h + h) + (h * d * k + d * k)


def reference_transformer_count(clip_dim: int, d: int, k: int, clip_length: int, layers: int) -> int:
    """TransformerMapper(dim_clip, dim_embedding=d, prefix_length=k, clip_length, num_layers)."""
    linear = clip_dim * clip_length * d + clip_length * d      # nn.Linear(dim_clip, clip_length * d)
    prefix_const = k * d                                       # nn.Parameter(randn(k, d))
    norm1 = norm2 = 2 * d                                      # LayerNorm weight + bias
    to_queries = d * d                                         # Linear(d, d, bias=False)
    to_keys_values = d * 2 * d                                 # Linear(d, 2d, bias=False)
    project = d * d + d                                        # Linear(d, d) with bias
    fc1, fc2 = d * 2 * d + 2 * d, 2 * d * d + d                # MlpTransformer, mlp_ratio 2.0
    layer = norm1 + to_queries + to_keys_values + project + norm2 + fc1 + fc2
    return linear + prefix_const + layers * layer


def _count(bridge) -> int:
    return sum(p.numel() for p in bridge.parameters())


@pytest.mark.parametrize("clip_dim, d, k", [(512, 768, 10), (640, 768, 10), (16, 64, 4), (512, 64, 10)])
def test_mlp_mapper_has_the_reference_parameter_count(clip_dim, d, k):
    bridge = build_bridge(ClipCapConfig(mapping="mlp", prefix_length=k), clip_dim, d)
    assert _count(bridge) == reference_mlp_count(clip_dim, d, k)


@pytest.mark.parametrize("clip_dim, d, k, clip_length, layers", [
    (512, 768, 10, 10, 8),    # COCO defaults of train.py
    (512, 768, 40, 40, 8),    # the paper's frozen-GPT-2 transformer setting (ViT-B/32)
    (640, 768, 40, 40, 8),    # RN50x4 features (--is_rn)
    (512, 64, 10, 10, 8),
    (16, 64, 4, 2, 2),
])
def test_transformer_mapper_has_the_reference_parameter_count(clip_dim, d, k, clip_length, layers):
    cfg = ClipCapConfig(mapping="transformer", prefix_length=k, clip_length=clip_length,
                        num_layers=layers, num_heads=8)
    bridge = build_bridge(cfg, clip_dim, d)
    assert _count(bridge) == reference_transformer_count(clip_dim, d, k, clip_length, layers)


def test_mapper_attention_has_no_qkv_bias_and_computes_the_reference_attention():
    cfg = ClipCapConfig(mapping="transformer", prefix_length=3, clip_length=2, num_layers=1, num_heads=2)
    bridge = build_bridge(cfg, 6, 8)
    layer = bridge.transformer.layers[0]
    assert layer.attn.to_queries.bias is None and layer.attn.to_keys_values.bias is None
    assert layer.attn.project.bias is not None
    torch.manual_seed(0)
    for p in layer.parameters():
        torch.nn.init.normal_(p, std=0.5)
    x = torch.randn(2, 5, 8)
    # the reference: pre-norm; softmax over keys of q.k * head_dim**-0.5; project; ReLU MLP
    h, hd = 2, 4
    y = layer.norm1(x)
    q = (y @ layer.attn.to_queries.weight.T).view(2, 5, h, hd)
    kv = (y @ layer.attn.to_keys_values.weight.T).view(2, 5, 2, h, hd)
    keys, values = kv[:, :, 0], kv[:, :, 1]
    att = (torch.einsum("bnhd,bmhd->bnmh", q, keys) * hd**-0.5).softmax(dim=2)
    out = torch.einsum("bnmh,bmhd->bnhd", att, values).reshape(2, 5, 8)
    x1 = x + layer.attn.project(out)
    z = layer.norm2(x1)
    want = x1 + layer.mlp.fc2(torch.relu(layer.mlp.fc1(z)))
    torch.testing.assert_close(layer(x), want, rtol=1e-5, atol=1e-5)
    # the mapper's output: the transformer's outputs at the learned constants
    feats = torch.randn(2, 6)
    seq = torch.cat([bridge.linear(feats).view(2, 2, 8), bridge.prefix_const.expand(2, -1, -1)], 1)
    torch.testing.assert_close(bridge(feats), layer(seq)[:, 2:])


def _vlm(tiny, labels):
    from socratic.adapters.vlm import VisionLanguageModel

    return VisionLanguageModel.from_configs(tiny.vision, ClipCapConfig(prefix_length=2, labels=labels),
                                            LMConfig(path=tiny.lm_dir), seed=0)


def test_reference_labels_have_no_eos_and_generation_stops_at_the_period(tiny):
    tok = tiny.tokenizer
    caption = "a red circle above a blue square"
    cap_ids = tok(caption, add_special_tokens=False)["input_ids"]
    for labels, want_end in (("eos", [tok.eos_token_id]), ("reference", [])):
        vlm = _vlm(tiny, labels)
        batch = vlm.collate([{"features": torch.zeros(vlm.bridge.vision_dim), "caption": caption}])
        kept = [t for t in batch["labels"][0].tolist() if t != -100]
        assert kept == cap_ids + want_end, labels
        stops = vlm._gen_kwargs("greedy", 1, 1, 1.0, 1.0, 8)["eos_token_id"]
        dot = tok(".", add_special_tokens=False)["input_ids"][0]
        assert stops == (tok.eos_token_id if labels == "eos" else [tok.eos_token_id, dot])
    # the reference's loss, written out: cross-entropy of the caption tokens after the prefix
    vlm = _vlm(tiny, "reference")
    f = torch.randn(1, vlm.bridge.vision_dim)
    batch = vlm.collate([{"features": f[0], "caption": caption}])
    loss = vlm(**batch)["loss"]
    prefix = vlm.bridge(f)
    tokens = torch.tensor([cap_ids])
    logits = vlm.lm(inputs_embeds=torch.cat([prefix, vlm.lm.get_input_embeddings()(tokens)], 1)).logits
    k = prefix.shape[1]
    ref = torch.nn.functional.cross_entropy(logits[0, k - 1 : -1], tokens[0])
    torch.testing.assert_close(loss, ref)
    assert math.isfinite(float(loss.detach()))


def test_labels_field_is_validated_and_saved_with_the_bridge(tiny, tmp_path):
    from pydantic import ValidationError
    from socratic.adapters.io import load_bridge, save_bridge

    with pytest.raises(ValidationError, match="labels"):
        ClipCapConfig(labels="none")
    vlm = _vlm(tiny, "reference")
    loaded = load_bridge(save_bridge(vlm, tmp_path / "b"))
    assert loaded.bridge_cfg.labels == "reference" and not loaded.append_eos
