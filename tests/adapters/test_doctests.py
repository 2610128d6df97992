"""The usage examples in the adapters modules' docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "socratic.adapters",
    "socratic.adapters.config",
    "socratic.adapters.synthetic",
    "socratic.adapters.metrics",
    "socratic.adapters.data",
    "socratic.adapters.vision",
    "socratic.adapters.bridges.base",
    "socratic.adapters.bridges.clipcap",
    "socratic.adapters.bridges.qformer",
    "socratic.adapters.bridges.frozen",
    "socratic.adapters.qformer.losses",
    "socratic.adapters.qformer.model",
    "socratic.adapters.qformer.text",
    "socratic.adapters.qformer.config",
    "socratic.adapters.train",
    "socratic.adapters.tasks",
    "socratic.vision.bridge_captioner",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
