"""Every usage example in the core modules' docstrings runs and gives what it shows."""

import doctest
import importlib

import pytest

MODULES = [
    "socratic",
    "socratic.types",
    "socratic.errors",
    "socratic.refs",
    "socratic.node",
    "socratic.graph",
    "socratic.scheduler",
    "socratic.registry",
    "socratic.models",
    "socratic.cache",
    "socratic.usage",
    "socratic.prompt",
    "socratic.parsers",
    "socratic.spec",
    "socratic.yaml_source",
    "socratic.catalog",
    "socratic.runner",
    "socratic.datasets",
    "socratic.llm.base",
    "socratic.nodes.llm",
    "socratic.nodes.text",
    "socratic.nodes.vote",
    "socratic.vision.base",
    "socratic.recipes.episodes",
    "socratic.recipes.reasoning",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
