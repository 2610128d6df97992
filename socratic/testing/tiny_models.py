"""Tiny transformers models and a BPE tokenizer, built offline in about a second, for tests.

Nothing is downloaded: the tokenizer is trained with ``tokenizers`` on a small built-in corpus
and gets a simple chat template (so ``transformers serve`` and chat requests work); models are
randomly initialised from tiny configs with a fixed seed and saved with ``save_pretrained``.

Example:
    >>> import tempfile                                             # doctest: +SKIP
    >>> path = make_tiny_causal(tempfile.mkdtemp(), arch="llama")   # doctest: +SKIP
    >>> from socratic.llm.hf import HFLLM                           # doctest: +SKIP
    >>> HFLLM(model=str(path), max_tokens=5).generate("hello").text # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)

_CORPUS = [
    "a photo of a cat sitting on a red chair",
    "a dog runs across the green grass in the park",
    "two birds fly over the blue sea at sunset",
    "the quick brown fox jumps over the lazy dog",
    "a man rides a bicycle down a busy city street",
    "question: what is two plus two? answer: four",
    "describe the image. the image shows a kitchen with a table",
    "<|user|> hello <|assistant|> hi there, how can I help?",
]


def make_tokenizer(directory: str | Path, vocab_size: int = 400) -> Any:
    """Train a byte-level BPE tokenizer (pad/bos/eos/unk, chat template) and save it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(directory))
    return fast


def make_tiny_causal(
    directory: str | Path, arch: Literal["gpt2", "llama"] = "gpt2", seed: int = 0
) -> Path:
    """A 2-layer GPT-2 or Llama with a trained tokenizer, saved to ``directory``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tok = make_tokenizer(directory)
    ids = {"vocab_size": len(tok), "bos_token_id": tok.bos_token_id,
           "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    torch.manual_seed(seed)
    model: Any
    if arch == "gpt2":
        config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=256,
                            initializer_range=0.2, **ids)
        model = GPT2LMHeadModel(config)
    else:
        config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=2, num_key_value_heads=2,
                             max_position_embeddings=256, initializer_range=0.2, **ids)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(str(directory))
    return directory


def make_tiny_seq2seq(directory: str | Path, seed: int = 0) -> Path:
    """A 2-layer T5 (encoder-decoder) with a trained tokenizer, saved to ``directory``."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    directory = Path(directory)
    tok = make_tokenizer(directory)
    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tok), d_model=32, d_ff=64, d_kv=16, num_layers=2,
                      num_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      decoder_start_token_id=tok.pad_token_id, initializer_factor=1.0,
                      tie_word_embeddings=False)
    model = T5ForConditionalGeneration(config)
    # untie the output layer: with tied random embeddings the decoder start (= pad) embedding
    # wins every step and the model only ever says <pad>
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))
    model.save_pretrained(str(directory))
    return directory


def make_lora_adapter(model_dir: str | Path, directory: str | Path, seed: int = 1) -> Path:
    """A LoRA adapter (random, non-zero B so it changes outputs) for a tiny causal model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(model_dir))
    targets = ["c_attn"] if base.config.model_type == "gpt2" else ["q_proj", "v_proj"]
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=targets, init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(str(directory))
    return Path(directory)
