"""docs/yaml.md's node reference is generated from the registry, so it cannot drift."""

from pathlib import Path

import pytest

from socratic.catalog import node_types_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "yaml.md"
BEGIN = "<!-- BEGIN GENERATED: socratic nodes --format markdown -->"
END = "<!-- END GENERATED -->"


def generated_section(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def test_yaml_reference_lists_every_node_type_as_the_registry_does():
    assert generated_section(DOC.read_text()) == node_types_markdown().strip(), (
        "docs/yaml.md is stale: run  python -m socratic.catalog --write docs/yaml.md"
    )


def python_snippets(page: str) -> list[str]:
    text = (DOC.parent / page).read_text()
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


@pytest.mark.parametrize("page", ["langchain.md"])
def test_every_python_snippet_of_the_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    snippets = python_snippets(page)
    assert len(snippets) >= 3
    for i, code in enumerate(snippets):
        exec(compile(code, f"docs/{page} snippet {i + 1}", "exec"), {"__name__": f"snippet{i}"})


def test_backend_reference_lists_every_backend_as_the_registry_does(monkeypatch):
    from socratic import models
    from socratic.catalog import backends_markdown

    # the project's backends only: test modules register their own (scripted, logging) at import
    monkeypatch.setattr(models, "_BACKENDS", {n: (k, t) for n, (k, t) in models._BACKENDS.items()
                                              if t.startswith("socratic.")})

    text = (DOC.parent / "backends.md").read_text()
    begin = "<!-- BEGIN GENERATED: socratic backends --format markdown -->"
    assert text.split(begin, 1)[1].split(END, 1)[0].strip() == backends_markdown().strip(), (
        "docs/backends.md is stale: run  python -m socratic.catalog --write docs/backends.md"
    )
