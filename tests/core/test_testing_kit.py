"""socratic.testing, the tiny-model kit for users' tests: docs/testing.md's snippets run as
written, every builder is documented there, the modules' examples run, importing it is cheap."""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import socratic.testing

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
SNIPPETS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)
MODULES = ["tokenizer", "tiny_lm", "tiny_clip", "tiny_captioner", "pretrain"]


def test_the_doc_has_snippets():
    assert len(SNIPPETS) >= 8


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_doc_snippet_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets write relative paths (models/..., images/...)
    code = compile(SNIPPETS[index], f"{DOC.name}[python block {index}]", "exec")
    exec(code, {"__name__": f"docs_testing_{index}"})


def test_every_export_is_documented():
    text = DOC.read_text()
    missing = [name for name in socratic.testing.__all__ if f"`{name}" not in text]
    assert not missing, f"docs/testing.md does not mention {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name):
    module = importlib.import_module(f"socratic.testing.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_import_is_cheap_and_names_load_lazily():
    code = ("import sys, socratic.testing as t\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
            "t.Fault, t.make_tiny_lm\n"
            "assert 'torch' not in sys.modules\n"
            "try:\n    t.nope\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "has no attribute 'nope'" in out.stdout


def test_one_special_token_layout_for_every_lm(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    for arch in ("gpt2", "llama", "t5"):
        path = socratic.testing.make_tiny_lm(tmp_path / arch, arch)
        tok, cfg = AutoTokenizer.from_pretrained(path), AutoConfig.from_pretrained(path)
        assert (tok.pad_token, tok.bos_token, tok.eos_token, tok.unk_token) == ("<pad>", "<s>", "</s>", "<unk>")
        assert (cfg.pad_token_id, cfg.eos_token_id) == (0, 2) and tok.chat_template
    with pytest.raises(ValueError, match="unknown tiny arch 'bert'"):
        socratic.testing.make_tiny_lm(tmp_path / "bert", "bert")  # type: ignore[arg-type]


def test_open_clip_configs_never_share_a_default_name(tmp_path):
    a = socratic.testing.write_open_clip_arch(tmp_path)
    b = socratic.testing.write_open_clip_arch(tmp_path, vision={"layers": 3})
    assert a.name != b.name  # one name per architecture in open_clip's global registry
    assert socratic.testing.write_open_clip_arch(tmp_path / "again").name == a.name
