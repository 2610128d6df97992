"""load_hf_lm on tiny local GPT-2 / Llama / T5 folders: kind, tokenizer, dtype, device, adapter."""

from __future__ import annotations

import shutil

import pytest
import torch

from socratic.errors import ModelLoadError
from socratic.loaders import HFLanguageModel, load_hf_lm


def test_causal_lm_pads_left_for_generation_and_matches_transformers(lms):
    from transformers import AutoModelForCausalLM

    lm = load_hf_lm(str(lms.llama), device="cpu", padding_side="auto")
    assert isinstance(lm, HFLanguageModel)
    assert (lm.seq2seq, lm.device, lm.tokenizer.padding_side) == (False, "cpu", "left")
    assert lm.has_chat_template and not lm.model.training
    assert lm.model.dtype == torch.float32
    ref = AutoModelForCausalLM.from_pretrained(str(lms.llama)).eval()
    ids = lm.tokenizer("a photo of a cat", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(lm.model(ids).logits, ref(ids).logits)


def test_seq2seq_is_detected_and_pads_right(lms):
    lm = load_hf_lm(str(lms.t5), padding_side="auto")
    assert lm.seq2seq and lm.tokenizer.padding_side == "right"
    assert type(lm.model).__name__ == "T5ForConditionalGeneration"


def test_kind_dtype_and_separate_tokenizer(lms):
    lm = load_hf_lm(str(lms.gpt2), kind="causal", dtype="bfloat16", tokenizer=str(lms.llama))
    assert not lm.seq2seq and lm.model.dtype == torch.bfloat16
    assert lm.tokenizer.name_or_path == str(lms.llama)
    assert lm.tokenizer.padding_side == "right"  # the tokenizer's own when padding_side is None


def test_pad_token_falls_back_to_eos(lms, tmp_path):
    from transformers import AutoTokenizer

    folder = tmp_path / "no-pad"
    shutil.copytree(lms.gpt2, folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    tok.pad_token = None
    tok.save_pretrained(str(folder))
    assert AutoTokenizer.from_pretrained(str(folder)).pad_token is None
    lm = load_hf_lm(str(folder))
    assert lm.tokenizer.pad_token == lm.tokenizer.eos_token == "</s>"


def test_peft_adapter_is_applied(lms):
    from peft import PeftModel

    base = load_hf_lm(str(lms.gpt2))
    tuned = load_hf_lm(str(lms.gpt2), adapter=str(lms.lora))
    assert isinstance(tuned.model, PeftModel)
    ids = base.tokenizer("a cat", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert not torch.allclose(base.model(ids).logits, tuned.model(ids).logits)


def test_bad_adapter_and_missing_cuda(lms, tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="'.*' is not a peft adapter directory"):
        load_hf_lm(str(lms.gpt2), adapter=str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelLoadError, match="device 'cuda:1' but no CUDA"):
        load_hf_lm(str(lms.gpt2), device="cuda:1")
