"""Every example graph validates offline; the offline ones run as-is and give their answer."""

from pathlib import Path

import pytest

from socratic.spec import load_graph

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GRAPHS = sorted(p for p in EXAMPLES.glob("*.yaml") if not p.name.startswith("train_"))


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.name)
def test_example_validates_and_declares_defaults(path):
    graph = load_graph(path)
    assert graph.outputs, "an example should expose outputs"
    assert all(not i.required for i in graph.inputs.values()), "examples run as-is: give defaults"


@pytest.mark.parametrize(
    ("name", "output", "expected"),
    [("self_consistency.yaml", "answer", "4"), ("fewshot_classification.yaml", "label", "animal")],
)
def test_offline_examples_run(name, output, expected):
    assert load_graph(EXAMPLES / name).run()[output] == expected
