"""The usage examples in the docstrings of the Ray engine's modules run and give what they show."""

import doctest
import importlib

import pytest

MODULES = ["socratic.engines", "socratic.engines.stages", "socratic.engines.payload",
           "socratic.engines.ray_data", "socratic.engines.ray_engine", "socratic.results",
           "socratic.llm.vllm"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    monkeypatch.chdir(importlib.import_module("socratic").__path__[0] + "/..")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
