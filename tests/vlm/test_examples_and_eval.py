"""The direct-VLM recipes run as shipped (recordings) and on a local VLM, and `socratic eval
--compare` puts two graphs side by side on the same rows."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image as PILImage

from socratic.cli import main
from socratic.spec import load_graph

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_direct_vlm_examples_run_offline_and_on_a_local_vlm(vlms):
    assert load_graph(EXAMPLES / "vlm_vqa.yaml").run() == {"answer": "A white spacesuit."}
    assert load_graph(EXAMPLES / "vlm_captioning.yaml").run()["caption"].startswith("An astronaut")
    local = load_graph(EXAMPLES / "vlm_vqa.yaml",
                       overrides=[f"models.vlm={{backend: hf, model: {vlms.qwen2_vl}, cache: false}}"])
    answer = local.run()["answer"]
    assert isinstance(answer, str) and answer


def colour_of(body: dict) -> str:
    """The fake server as a 'VLM': it names the main colour of the image it was sent."""
    parts = body["messages"][-1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    with PILImage.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))) as im:
        r, g, b = im.convert("RGB").resize((1, 1)).getpixel((0, 0))
    return max((r, "red"), (g, "green"), (b, "blue"))[1]


def test_eval_compare_runs_both_graphs_on_the_same_rows(fake, tmp_path, capsys):
    fake.reply = lambda body: colour_of(body) if "image_url" in json.dumps(body) else "red"
    rows = tmp_path / "rows.jsonl"
    with rows.open("w") as f:
        for i, colour in enumerate(["red", "green", "blue", "blue", "green", "red"]):
            path = tmp_path / f"{i}.png"
            PILImage.new("RGB", (16, 16), colour).save(path)
            f.write(json.dumps({"image": str(path), "label": colour}) + "\n")
    model = f'{{backend: openai, model: m, base_url: "{fake.base_url}", cache: false}}'
    (tmp_path / "direct.yaml").write_text(f"""\
inputs: {{image: image, classes: "list[str]"}}
models: {{vlm: {model}}}
nodes:
  ask: {{type: llm.generate, model: vlm, template: "Which colour?", parse: choice,
        images: "${{inputs.image}}", choices: "${{inputs.classes}}"}}
outputs: {{label: "${{ask.output}}"}}
""")
    (tmp_path / "blind.yaml").write_text(f"""\
inputs: {{image: image, classes: "list[str]"}}
models: {{lm: {model}}}
nodes:
  ask: {{type: llm.generate, model: lm, template: "Guess a colour.", parse: choice,
        choices: "${{inputs.classes}}"}}
outputs: {{label: "${{ask.output}}"}}
""")
    out = tmp_path / "results"
    code = main(["eval", "classify", str(tmp_path / "direct.yaml"), "--compare", str(tmp_path / "blind.yaml"),
                 "--data", str(rows), "--out", str(out)])
    assert code == 0
    table = json.loads((out / "comparison.json").read_text())["rows"]
    assert [(r["graph"], r["top1"], r["requests"], r["failed"]) for r in table] == [
        ("direct", 1.0, 6, 0), ("blind", 2 / 6, 6, 0)]
    assert all(r["tokens"] > 0 and r["seconds"] >= 0 for r in table)
    assert (out / "comparison.png").is_file() and (out / "direct" / "results.json").is_file()
    printed = capsys.readouterr().out
    assert "graph  | top1  | mean_per_class" in printed and "blind  | 0.333" in printed
