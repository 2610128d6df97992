"""Every Python snippet of docs/vision_llm.md runs and gives what it shows."""

from __future__ import annotations

from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "vision_llm.md"


def test_every_python_snippet_of_the_vision_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    snippets = [block.split("```", 1)[0] for block in PAGE.read_text().split("```python\n")[1:]]
    assert len(snippets) >= 5
    for i, code in enumerate(snippets):
        exec(compile(code, f"docs/vision_llm.md snippet {i + 1}", "exec"), {"__name__": f"snippet{i}"})
