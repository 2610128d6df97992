"""Every Python snippet of the insight pages runs (in a temporary folder, in page order)."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def python_snippets(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


@pytest.mark.parametrize("page", ["tracing.md", "plan.md", "tuning.md", "report.md"])
def test_every_python_snippet_of_the_page_runs(page, tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "environ", os.environ.copy())  # snippets set variables (API keys)
    snippets = python_snippets(page)
    assert snippets, f"docs/{page} has no runnable example"
    namespace = {"__name__": f"docs_{page}"}
    for i, code in enumerate(snippets):
        exec(compile(code, f"docs/{page} snippet {i + 1}", "exec"), namespace)
