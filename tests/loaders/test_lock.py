"""The load lock covers loading; the package imports no torch; docstring examples run."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
import threading

import pytest

from socratic.loaders import load_hf_image_to_text, load_hf_lm, load_lock, load_open_clip


@pytest.mark.parametrize("family", ["hf_lm", "open_clip", "hf_image_to_text"])
def test_a_load_waits_for_the_lock(family, lms, open_clip_models, captioners):
    load = {
        "hf_lm": lambda: load_hf_lm(str(lms.gpt2)),
        "open_clip": lambda: load_open_clip(f"local-dir:{open_clip_models.export}"),
        "hf_image_to_text": lambda: load_hf_image_to_text(str(captioners.git), device="cpu"),
    }[family]
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(load()), daemon=True)
    with load_lock:  # another thread is loading
        worker.start()
        worker.join(1.0)
        assert worker.is_alive() and not done
    worker.join(120)
    assert len(done) == 1


def test_several_families_load_at_once_in_a_fresh_process(lms, open_clip_models, captioners, hf_clips):
    """Cold start, a barrier, five loads of four families released together."""
    code = f"""
import threading
from socratic.loaders import build_open_clip, load_hf_clip, load_hf_image_to_text, load_hf_lm
jobs = [lambda: load_hf_lm({str(lms.gpt2)!r}), lambda: load_hf_lm({str(lms.t5)!r}),
        lambda: load_hf_clip({str(hf_clips.siglip)!r}, device="cpu"),
        lambda: load_hf_image_to_text({str(captioners.blip2)!r}, device="cpu"),
        lambda: build_open_clip({str(open_clip_models.arch_file)!r}, seed=0)]
barrier, errors = threading.Barrier(len(jobs)), []
def run(job):
    barrier.wait()
    try:
        job()
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
for t in threads: t.start()
for t in threads: t.join()
print(errors)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_importing_the_loaders_imports_no_heavy_library():
    code = ("import sys, socratic.loaders, socratic.loaders.hub\n"
            "print([m for m in ('torch', 'transformers', 'open_clip', 'peft') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["socratic.loaders", "socratic.loaders.lock", "socratic.loaders.hub",
                                  "socratic.loaders.device", "socratic.loaders.hf_lm",
                                  "socratic.loaders.open_clip", "socratic.loaders.hf_clip",
                                  "socratic.loaders.hf_image_to_text"])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
