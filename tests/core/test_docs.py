"""docs/yaml.md's node reference is generated from the registry, so it cannot drift."""

from pathlib import Path

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
