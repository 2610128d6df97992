"""The usage examples in the docstrings of the lecture's systems run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "socratic.adapters.common",
    "socratic.adapters.common.saved",
    "socratic.adapters.common.images",
    "socratic.adapters.fromage",
    "socratic.adapters.fromage.config",
    "socratic.adapters.fromage.train",
    "socratic.adapters.flamingo",
    "socratic.adapters.flamingo.config",
    "socratic.adapters.flamingo.resampler",
    "socratic.adapters.flamingo.xattn",
    "socratic.adapters.flamingo.model",
    "socratic.adapters.flamingo.data",
    "socratic.adapters.pgn",
    "socratic.adapters.pgn.config",
    "socratic.adapters.pgn.tower",
    "socratic.adapters.pgn.generator",
    "socratic.adapters.pgn.inversion",
    "socratic.adapters.mae",
    "socratic.adapters.mae.config",
    "socratic.adapters.mae.model",
    "socratic.adapters.mae.probe",
    "socratic.recipes.trained",
    "socratic.recipes.fromage",
    "socratic.recipes.flamingo",
    "socratic.recipes.pgn",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
