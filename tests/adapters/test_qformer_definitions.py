"""BLIP-2 stage-1 objectives against numbers worked out by hand, the attention pattern of each
Q-Former pass, the clamped temperature, BERT initialisation and the stage-1 -> stage-2 hand-off
(LAVIS ``blip2_qformer.py`` is the reference)."""

from __future__ import annotations

import math

import pytest
import torch
from socratic.adapters.config import QFormerArch, QFormerConfig
from socratic.adapters.qformer import losses as L

ARCH = QFormerArch(num_query_tokens=3, hidden_size=32, num_layers=2, num_heads=2,
                   intermediate_size=64, dropout=0.0)


def _ls_ce(logits: list[float], target: int, eps: float = 0.1) -> float:
    """Label-smoothed cross-entropy of one row, from its definition."""
    z = math.log(sum(math.exp(v) for v in logits))
    logp = [v - z for v in logits]
    return -(1 - eps) * logp[target] - eps / len(logits) * sum(logp)


# ------------------------------------------------------------------ ITC


def test_itc_is_max_over_queries_with_label_smoothing_both_ways():
    img = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [0.6, 0.8]]])
    txt = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss, sim = L.itc_loss(img, txt, torch.tensor(0.1), label_smoothing=0.1)
    # sim[i][j] = max over image i's queries of <query, text j> / 0.1
    torch.testing.assert_close(sim, torch.tensor([[10.0, 10.0], [6.0, 8.0]]))
    # by hand: i2t rows [10,10]->0 and [6,8]->1; t2i rows [10,6]->0 and [10,8]->1
    i2t = (math.log(2) + (math.log(1 + math.exp(-2)) + 0.1)) / 2
    t2i = ((math.log(1 + math.exp(-4)) + 0.05 * 4)
           + (0.95 * math.log(1 + math.exp(2)) + 0.05 * math.log(1 + math.exp(-2)))) / 2
    assert float(loss) == pytest.approx((i2t + t2i) / 2, abs=1e-6)
    assert float(loss) == pytest.approx((_ls_ce([10, 10], 0) + _ls_ce([6, 8], 1)
                                         + _ls_ce([10, 6], 0) + _ls_ce([10, 8], 1)) / 4, abs=1e-6)
    # without smoothing it is plain cross-entropy
    plain, _ = L.itc_loss(img, txt, torch.tensor(0.1), label_smoothing=0.0)
    assert float(plain) == pytest.approx((math.log(2) + math.log(1 + math.exp(-2))
                                          + math.log(1 + math.exp(-4)) + math.log(1 + math.exp(2))) / 4,
                                         abs=1e-6)


# ------------------------------------------------------------------ ITM


def test_hard_negatives_follow_the_softmax_of_similarities_and_never_the_positive():
    ln3 = math.log(3.0)
    sim_i2t = torch.tensor([[5.0, ln3, 0.0],      # image 0: texts 1 and 2 weigh 3 : 1
                            [0.0, 9.0, 0.0],      # image 1: texts 0 and 2 weigh 1 : 1
                            [ln3, 0.0, 2.0]])     # image 2: texts 0 and 1 weigh 3 : 1
    g = torch.Generator().manual_seed(0)
    draws = [L.hard_negatives(sim_i2t, g) for _ in range(4000)]
    neg_image = torch.stack([d[0] for d in draws]).float()   # per text (columns of sim_i2t)
    neg_text = torch.stack([d[1] for d in draws]).float()    # per image (rows)
    for b in range(3):  # the positive pair is never drawn, in either direction
        assert (neg_image[:, b] != b).all() and (neg_text[:, b] != b).all()
    assert float((neg_text[:, 0] == 1).float().mean()) == pytest.approx(0.75, abs=0.03)
    assert float((neg_text[:, 1] == 0).float().mean()) == pytest.approx(0.5, abs=0.03)
    assert float((neg_text[:, 2] == 0).float().mean()) == pytest.approx(0.75, abs=0.03)
    # text 0: images 1, 2 have sim 0 and ln 3 -> 1 : 3; text 2: images 0, 1 have 0, 0 -> 1 : 1
    assert float((neg_image[:, 0] == 2).float().mean()) == pytest.approx(0.75, abs=0.03)
    assert float((neg_image[:, 2] == 0).float().mean()) == pytest.approx(0.5, abs=0.03)
    with pytest.raises(ValueError, match="at least 2"):
        L.hard_negatives(torch.zeros(1, 1))


def test_itm_pairs_labels_and_loss():
    rows_img, rows_txt = L.itm_pairs(torch.tensor([2, 0, 1]), torch.tensor([1, 2, 0]))
    # B positives, then (negative image of text i, text i), then (image i, negative text of image i)
    assert rows_img.tolist() == [0, 1, 2, 2, 0, 1, 0, 1, 2]
    assert rows_txt.tolist() == [0, 1, 2, 0, 1, 2, 1, 2, 0]
    assert L.itm_labels(3).tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0]
    ln3 = math.log(3.0)
    logits = torch.tensor([[0.0, ln3], [ln3, 0.0], [0.0, 0.0]])  # B = 1: one positive, two negatives
    want = (-math.log(0.75) - math.log(0.75) + math.log(2)) / 3
    assert float(L.itm_loss(logits)) == pytest.approx(want, abs=1e-6)


# ------------------------------------------------------------------ ITG


def test_itg_mask_queries_see_queries_text_sees_queries_and_earlier_text():
    mask = L.itg_attention_mask(2, torch.tensor([[1, 1, 1], [1, 1, 0]]))
    #            q0 q1 t0 t1 t2
    full = [[1, 1, 0, 0, 0],   # q0
            [1, 1, 0, 0, 0],   # q1
            [1, 1, 1, 0, 0],   # t0
            [1, 1, 1, 1, 0],   # t1
            [1, 1, 1, 1, 1]]   # t2
    padded = [[*row[:4], 0] for row in full]  # the second text's last token is padding
    assert mask.int().tolist() == [full, padded]


def test_itg_inputs_and_label_smoothed_next_token_loss():
    ids = torch.tensor([[2, 7, 8, 3], [2, 9, 3, 0]])       # [CLS] ... [SEP] [PAD]
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    dec, labels = L.itg_inputs(ids, mask, bos_id=11)
    assert dec.tolist() == [[11, 7, 8, 3], [11, 9, 3, 0]]  # [CLS] -> [DEC]
    assert labels.tolist() == [[11, 7, 8, 3], [11, 9, 3, -100]]
    ln3 = math.log(3.0)
    logits = torch.tensor([[[0.0, ln3], [0.0, 0.0], [9.0, 9.0]]])   # vocabulary of 2
    lab = torch.tensor([[0, 1, -100]])
    # position 0 predicts label 1 (p = 3/4); position 1 predicts padding (ignored); the last
    # position predicts nothing
    want = -(0.9 * math.log(0.75) + 0.05 * (math.log(0.25) + math.log(0.75)))
    assert float(L.itg_loss(logits, lab, 0.1)) == pytest.approx(want, abs=1e-6)


# ------------------------------------------------------------------ the model's passes


@pytest.fixture(scope="module")
def stage1(wordpiece):
    from socratic.adapters.qformer.model import QFormerStage1

    tok = wordpiece.tokenizer
    torch.manual_seed(0)
    model = QFormerStage1(ARCH, 16, vocab_size=len(tok), pad_id=tok.pad_token_id,
                          cls_id=tok.cls_token_id, sep_id=tok.sep_token_id, bos_id=tok.bos_token_id)
    enc = tok(["a red circle above a blue square", "a green triangle left of a red square"],
              padding=True, return_tensors="pt")
    return model.eval(), tok, enc["input_ids"], enc["attention_mask"]


def test_itg_pass_queries_ignore_text_text_is_causal_and_grounded(stage1):
    model, tok, ids, mask = stage1
    image = model.image_embeds(torch.randn(2, 5, 16))
    dec, _ = L.itg_inputs(ids, mask, tok.bos_token_id)
    with torch.no_grad():
        q_out, logits = model.decode(image, dec, mask)
        torch.testing.assert_close(q_out, model.query_outputs(image))  # = the queries-only pass
        changed = dec.clone()
        changed[:, 3] = tok.convert_tokens_to_ids("green")
        q2, logits2 = model.decode(image, changed, mask)
        torch.testing.assert_close(q2, q_out)                 # queries never see the text
        torch.testing.assert_close(logits2[:, :3], logits[:, :3])   # no peeking at token 3
        assert not torch.allclose(logits2[:, 3:], logits[:, 3:])
        _, logits3 = model.decode(model.image_embeds(torch.randn(2, 5, 16)), dec, mask)
        assert not torch.allclose(logits3[:, 0], logits[:, 0])      # text reads the image


def test_itc_text_features_are_text_only_and_itm_is_bidirectional(stage1):
    model, _, ids, mask = stage1
    with torch.no_grad():
        f = model.text_features(ids, mask)
        assert f.shape == (2, 256) and torch.allclose(f.norm(dim=-1), torch.ones(2))
        image = model.image_embeds(torch.randn(2, 5, 16))
        a = model.itm_logits(image, ids, mask)
        b = model.itm_logits(image, ids.flip(0), mask.flip(0))
        assert not torch.allclose(a, b)   # same images, other texts: the queries read the text


def test_temperature_is_clamped_before_a_training_forward(stage1):
    from socratic.adapters.qformer.model import QFormerStage1

    model, tok, ids, mask = stage1
    feats = torch.randn(2, 5, 16)
    for clamp, want in (((0.001, 0.5), 0.5), (None, 1.0)):
        m = QFormerStage1(ARCH, 16, vocab_size=len(tok), pad_id=0, cls_id=tok.cls_token_id,
                          sep_id=tok.sep_token_id, bos_id=tok.bos_token_id, temp_clamp=clamp)
        with torch.no_grad():
            m.temp.fill_(1.0)
        m.eval()(text_ids=ids, text_mask=mask, features=feats)
        assert float(m.temp.detach()) == 1.0              # evaluation leaves it alone
        m.train()(text_ids=ids, text_mask=mask, features=feats)
        assert float(m.temp.detach()) == pytest.approx(want)
    out = model.train()(text_ids=ids, text_mask=mask, features=feats)
    model.eval()
    assert float(out["loss"]) == pytest.approx(float(out["itc"] + out["itm"] + out["itg"]))


# ------------------------------------------------------------------ tokenizer and BERT


def test_bert_tokenizer_gets_dec_and_cls_comes_first(wordpiece):
    tok = wordpiece.tokenizer
    assert tok.bos_token == "[DEC]" and len(tok) == wordpiece.bert_vocab + 1
    ids = tok("A Red circle")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", "a", "red", "circle", "[SEP]"]


def test_qformer_initialised_from_bert_as_blip2_does(wordpiece):
    from safetensors.torch import load_file
    from socratic.adapters.qformer.bert import init_from_bert
    from socratic.adapters.qformer.model import QFormerStage1

    tok = wordpiece.tokenizer
    bert = {k.removeprefix("bert."): v for k, v in load_file(wordpiece.bert_weights).items()}
    model = QFormerStage1(ARCH, 16, vocab_size=len(tok), pad_id=tok.pad_token_id,
                          cls_id=tok.cls_token_id, sep_id=tok.sep_token_id, bos_id=tok.bos_token_id)
    cross_before = model.qformer.encoder.layer[0].crossattention.attention.query.weight.clone()
    report = init_from_bert(model, wordpiece.bert_dir)
    layer = model.qformer.encoder.layer[1]
    eq = torch.equal
    assert eq(model.qformer.layernorm.weight, bert["embeddings.LayerNorm.weight"])
    assert eq(layer.attention.attention.value.weight, bert["encoder.layer.1.attention.self.value.weight"])
    assert eq(layer.attention.output.dense.bias, bert["encoder.layer.1.attention.output.dense.bias"])
    for ffn in ("intermediate", "intermediate_query"):   # queries' feed-forward copied from text's
        assert eq(getattr(layer, ffn).dense.weight, bert["encoder.layer.1.intermediate.dense.weight"])
    assert eq(layer.output_query.LayerNorm.weight, bert["encoder.layer.1.output.LayerNorm.weight"])
    v = wordpiece.bert_vocab
    words = model.text_embeddings.word_embeddings.weight
    assert eq(words[:v], bert["embeddings.word_embeddings.weight"])     # + a new row for [DEC]
    assert not eq(words[v], torch.zeros_like(words[v]))
    assert eq(model.text_embeddings.position_embeddings.weight, bert["embeddings.position_embeddings.weight"])
    assert eq(model.itg_head.dense.weight, bert["cls.predictions.transform.dense.weight"])
    assert eq(model.itg_head.bias[:v], bert["cls.predictions.bias"])
    assert eq(model.qformer.encoder.layer[0].crossattention.attention.query.weight, cross_before)
    assert any("crossattention" in n for n in report["new"]) and "query_tokens" in report["new"]
    small = QFormerStage1(ARCH.model_copy(update={"hidden_size": 16, "intermediate_size": 32}), 16,
                          vocab_size=len(tok), pad_id=0, cls_id=2, sep_id=3, bos_id=len(tok) - 1)
    with pytest.raises(ValueError, match="hidden_size 16 vs BERT's 32; intermediate_size 32 vs BERT's 64"):
        init_from_bert(small, wordpiece.bert_dir)


# ------------------------------------------------------------------ stage 1 -> stage 2


def _stage1_folder(wordpiece, tmp_path, vision_fp="abc"):
    from types import SimpleNamespace

    from socratic.adapters.qformer.config import QFormerStage1Config
    from socratic.adapters.qformer.train import build_stage1, save_stage1

    cfg = QFormerStage1Config.model_validate({
        "task": "qformer_stage1", "vision": {"model": "x"}, "qformer": ARCH.model_dump(),
        "tokenizer": wordpiece.dir, "data": {"train": "t.jsonl"}, "train": {"output_dir": str(tmp_path)}})
    model, _ = build_stage1(cfg, wordpiece.tokenizer, 16)
    path = save_stage1(model, wordpiece.tokenizer, cfg, {"fingerprint": vision_fp}, tmp_path / "qformer", 7)
    return SimpleNamespace(path=path, model=model, cfg=cfg)


def test_stage2_bridge_starts_from_the_stage1_checkpoint(wordpiece, tmp_path):
    from socratic.adapters.bridges import build_bridge
    from socratic.adapters.io import BridgeLoadError
    from socratic.adapters.qformer.train import load_stage1

    s1 = _stage1_folder(wordpiece, tmp_path)
    cfg = QFormerConfig(**ARCH.model_dump(), stage1_checkpoint=str(s1.path))
    bridge = build_bridge(cfg, 16, 24)
    bridge.initialize({"vision": {"fingerprint": "abc"}})
    ours, theirs = bridge.state_dict(), s1.model.state_dict()
    shared = [k for k in ours if not k.startswith("language_projection.")]
    assert shared and all(torch.equal(ours[k], theirs[k]) for k in shared)
    assert not any(".intermediate." in k for k in ours)   # stage 2 has no text feed-forward
    loaded, _tok = load_stage1(s1.path)                    # the folder reloads exactly too
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in theirs.items())
    with pytest.raises(BridgeLoadError, match="fingerprint abc.*fingerprint zzz"):
        build_bridge(cfg, 16, 24).initialize({"vision": {"fingerprint": "zzz", "model": "y"}})
    other = QFormerConfig(**{**ARCH.model_dump(), "num_query_tokens": 5}, stage1_checkpoint=str(s1.path))
    with pytest.raises(BridgeLoadError, match="num_query_tokens 5 vs 3"):
        build_bridge(other, 16, 24).initialize({})
    with pytest.raises(BridgeLoadError, match="not a Q-Former stage-1 checkpoint"):
        build_bridge(cfg.model_copy(update={"stage1_checkpoint": str(tmp_path)}), 16, 24).initialize({})
    frozen = build_bridge(cfg.model_copy(update={"freeze_qformer": True}), 16, 24)
    frozen.initialize({})
    assert sorted(n for n, p in frozen.named_parameters() if p.requires_grad) == [
        "language_projection.bias", "language_projection.weight"]


def test_stage1_losses_option_points_to_the_new_task():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="task: qformer_stage1"):
        QFormerConfig(stage1_losses=["itc"])
