"""socratic.eval imports light, exports what it lists, and its docstring examples run."""

from __future__ import annotations

import doctest
import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import socratic.eval

MODULES = ["caption_metrics", "classification", "plots", "readers", "retrieval"]


def test_import_is_light_and_plots_never_use_pyplot(tmp_path: Path) -> None:
    code = (
        "import os, sys, tempfile\n"
        "import socratic\n"
        "before = set(sys.modules)\n"
        "import socratic.eval\n"
        "new = set(sys.modules) - before\n"
        "heavy = {m for m in new if m.split('.')[0] in {'numpy', 'matplotlib', 'PIL'}}\n"
        "assert not heavy, heavy\n"
        "assert not any(m.startswith('socratic.eval.') for m in new), new\n"
        "from socratic.eval import plot_per_class_accuracy\n"
        "assert 'matplotlib' not in sys.modules\n"
        "plot_per_class_accuracy({'a': 1.0}, os.path.join(tempfile.mkdtemp(), 'a.png'))\n"
        "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env)


def test_every_listed_name_resolves() -> None:
    for name in socratic.eval.__all__:
        assert getattr(socratic.eval, name) is not None
    assert set(socratic.eval.__all__) <= set(dir(socratic.eval))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = socratic.eval.nope


@pytest.mark.parametrize("module", ["socratic.eval", *(f"socratic.eval.{m}" for m in MODULES)])
def test_docstring_examples(module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # examples' mkdtemp() land here
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("module", MODULES)
def test_public_names_have_docstrings_with_examples(module: str) -> None:
    mod = importlib.import_module(f"socratic.eval.{module}")
    for name in mod.__all__:
        obj = getattr(mod, name)
        if callable(obj):
            assert obj.__doc__ and "Example" in obj.__doc__, f"{module}.{name}"
