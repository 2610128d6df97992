"""Images through the openai backend: exact request bodies, one encoding per image, cache keys
by content, and bad images failing their own row."""

from __future__ import annotations

import base64
import io
import shutil

import pytest
from PIL import Image as PILImage

from socratic import Graph
from socratic.cache import Cache
from socratic.context import BuildContext
from socratic.errors import GraphError, NodeError
from socratic.llm import images as image_memo
from socratic.llm.openai_backend import OpenAILLM
from socratic.nodes.llm import Generate
from socratic.types import Image


def llm(server, **options) -> OpenAILLM:
    return OpenAILLM(**{"model": "vlm", "base_url": server.base_url, "cache": False, **options})


def data_url_of(path: str, mime: str) -> str:
    with open(path, "rb") as f:
        return f"data:{mime};base64," + base64.b64encode(f.read()).decode()


def size_of(url: str) -> tuple[int, int]:
    with PILImage.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))) as im:
        return im.size


def vqa_graph(model, **options) -> Graph:
    g = Graph("vqa")
    g.add_input("image", Image)
    g.add_input("question", str)
    g.add("ask", Generate(model, template="Q: {{ question }}", **options), question="inputs.question",
          images="inputs.image")
    g.add_output("answer", "ask.output")
    return g


def test_request_body_holds_content_parts_data_urls_and_detail(fake, pictures):
    model = llm(fake, detail="low")
    out = vqa_graph(model).run(image=pictures.red, question="what colour?")
    assert out == {"answer": "echo: [image 64x48] Q: what colour?"}
    # PNG and JPEG files go byte for byte, in template order, each with the detail asked for
    g = Graph("two")
    g.add_input("a", Image)
    g.add_input("b", Image)
    g.add("ask", Generate(model, template="<|system|>\nBe brief.\n<|user|>\nFirst {{ a | image }}"
                                           " then {{ b | image('high') }} compare."),
          a="inputs.a", b="inputs.b")
    g.add_output("answer", "ask.output")
    g.run(a=pictures.red, b=pictures.green)
    assert fake.bodies == [
        {"model": "vlm", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": data_url_of(pictures.red, "image/png"),
                                                "detail": "low"}},
            {"type": "text", "text": "Q: what colour?"}]}]},
        {"model": "vlm", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "First"},
                {"type": "image_url", "image_url": {"url": data_url_of(pictures.red, "image/png"),
                                                    "detail": "low"}},
                {"type": "text", "text": "then"},
                {"type": "image_url", "image_url": {"url": data_url_of(pictures.green, "image/jpeg"),
                                                    "detail": "high"}},
                {"type": "text", "text": "compare."}]}]},
    ]


def test_downscale_before_sending_and_pil_images_as_png(fake, pictures):
    model = llm(fake, max_image_side=256)
    out = model.generate({"messages": [{"role": "user", "content": [
        {"type": "image", "image": pictures.big}, {"type": "text", "text": "hi"},
        {"type": "image", "image": PILImage.new("RGB", (300, 20), "red")}]}]})
    assert out.text == "echo: [image 256x128] hi [image 256x17]"
    parts = fake.bodies[0]["messages"][0]["content"]
    assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert size_of(parts[0]["image_url"]["url"]) == (256, 128)
    assert "detail" not in parts[0]["image_url"]
    # a small image is not touched
    model.generate({"messages": [{"role": "user", "content": [{"type": "image", "image": pictures.red}]}]})
    assert fake.bodies[1]["messages"][0]["content"][0]["image_url"]["url"] == data_url_of(pictures.red, "image/png")


def test_one_encoding_per_image_across_samples_reasks_and_rows(fake, pictures):
    answers = iter(["not json", '{"ok": true}'] + ['{"ok": true}'] * 100)
    fake.reply = lambda body: next(answers)
    model = llm(fake, max_image_side=100)
    g = Graph("many")
    g.add_input("image", Image)
    g.add("ask", Generate(model, template="Look.", n=3, temperature=0.5,
                          parse={"json_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}},
                                                 "required": ["ok"]}}),
          images="inputs.image")
    g.add_output("ok", "ask.ok")
    rows = g.run_many([{"image": pictures.big}] * 5, concurrency=5)
    assert all(r["outputs"] == {"ok": [True, True, True]} for r in rows)
    assert fake.count >= 6  # 5 rows + at least one re-ask, every one with the image
    assert image_memo.encode_count == 1


def test_cache_key_is_the_image_content_and_the_send_options(fake, pictures, tmp_path):
    context = BuildContext(cache=Cache(tmp_path / "cache"))
    copy = shutil.copy(pictures.red, tmp_path / "same-pixels-elsewhere.png")

    def ask(image, **options):
        model = llm(fake, cache=True, **options).bind(context)
        return model.generate({"messages": [{"role": "user", "content": [
            {"type": "image", "image": image}, {"type": "text", "text": "colour?"}]}]})

    first = ask(pictures.red)
    assert (first.cached, fake.count) == (0, 1)
    assert ask(copy).cached == 1 and fake.count == 1  # same bytes, other path: a hit
    assert ask(pictures.blue).cached == 0 and fake.count == 2  # other pixels: a miss
    assert ask(pictures.red, detail="high").cached == 0 and fake.count == 3  # other detail
    assert ask(pictures.red, max_image_side=32).cached == 0 and fake.count == 4  # other size
    pil = PILImage.open(pictures.red).convert("RGB")
    assert ask(Image(pil=pil)).cached == 0  # pixels hash differs from the PNG file's bytes
    assert ask(Image(pil=pil.copy())).cached == 1  # same pixels, another PIL object: a hit
    # no bytes in the cache, only hashes
    raw = (tmp_path / "cache" / "cache.sqlite").read_bytes()
    with open(pictures.red, "rb") as f:
        assert base64.b64encode(f.read())[60:120] not in raw


def test_bad_images_fail_their_own_row_and_the_run_goes_on(fake, pictures, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    g = vqa_graph(llm(fake, max_image_pixels=100_000))
    rows = g.run_many([{"image": pictures.red, "question": "a"},
                       {"image": str(tmp_path / "missing.png"), "question": "b"},
                       {"image": str(broken), "question": "c"},
                       {"image": pictures.big, "question": "d"},
                       {"image": pictures.blue, "question": "e"}])
    assert [("outputs" in r) for r in rows] == [True, False, False, False, True]
    assert "image file not found" in str(rows[1]["error"]) and "missing.png" in str(rows[1]["error"])
    assert "cannot read image" in str(rows[2]["error"]) and "broken.png" in str(rows[2]["error"])
    assert "1024x512 = 524,288 pixels, over the limit of 100,000" in str(rows[3]["error"])
    assert fake.count == 2


def test_images_to_a_model_without_vision(fake, pictures):
    # known before running: refused when the graph is built / validated
    with pytest.raises(GraphError, match="cannot see images"):
        Generate(llm(fake, vision=False), template="{{ x | image }} what?")
    g = vqa_graph(llm(fake, api="completions"))
    problems = g.validate()
    assert any("cannot see images" in p.message and "openai:vlm" in p.message for p in problems)
    # known only to the server: its 400, with the model named and a hint
    fake.vision = False
    with pytest.raises(NodeError, match=r"HTTP 400 .*model 'vlm'.*does not support image.*does model 'vlm' see images"):
        vqa_graph(llm(fake, max_attempts=1)).run(image=pictures.red, question="?")


def test_url_images_are_sent_as_urls(fake):
    model = llm(fake)
    out = model.generate({"messages": [{"role": "user", "content": [
        {"type": "image", "image": "https://example.com/cat.png"}, {"type": "text", "text": "?"}]}]})
    assert out.text == "echo: [image] ?"
    assert fake.bodies[0]["messages"][0]["content"][0] == {
        "type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
