"""Prompt templates (shipped texts, chat sections, shots, sandbox, lookup) and answer parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

from socratic.errors import GraphError, ParseError, SocraticError
from socratic.parsers import Choice, Json, Parser, make_parser
from socratic.prompt import PromptTemplate, available_prompts, load_prompt

# The prompt of Menon & Vondrick (2022), "Visual Classification via Description from Large
# Language Models", as in their generate_descriptors.py (note the third question drops
# "visual", as the original does).
DESCRIPTORS_TIGER = """\
Q: What are useful visual features for distinguishing a lemur in a photo?
A: There are several useful visual features to tell there is a lemur in a photo:
- four-limbed primate
- black, grey, white, brown, or red-brown
- wet and hairless nose with curved nostrils
- long tail
- large eyes
- furry bodies
- clawed hands and feet

Q: What are useful visual features for distinguishing a television in a photo?
A: There are several useful visual features to tell there is a television in a photo:
- electronic device
- black or grey
- a large, rectangular screen
- a stand or mount to support the screen
- one or more speakers
- a power cord
- input ports for connecting to other devices
- a remote control

Q: What are useful features for distinguishing a tiger in a photo?
A: There are several useful visual features to tell there is a tiger in a photo:
-"""


# --------------------------------------------------------------------------- shipped templates


@pytest.mark.parametrize(
    ("name", "variables"),
    [
        ("descriptors", {"category"}),
        ("socratic_caption", {"img_type", "num_people", "places", "objects"}),
        ("cot_zero_shot", {"question"}),
        ("cot_answer", {"question", "reasoning"}),
    ],
)
def test_shipped_templates_load_with_the_variables_the_papers_need(name: str, variables: set[str]) -> None:
    template = load_prompt(name)
    assert template.variables == variables
    assert template.path is not None and Path(template.path).name == f"{name}.j2"
    assert name in available_prompts()


def test_descriptors_renders_the_menon_vondrick_prompt() -> None:
    text = load_prompt("descriptors").render({"category": "tiger"})
    assert text.endswith("A: There are several useful visual features to tell there is a tiger in a photo:\n-")
    assert text.startswith("Q: What are useful visual features for distinguishing a lemur in a photo?\n")
    assert "\n- clawed hands and feet\n\nQ: What are useful visual features for distinguishing a television" in text
    assert text == DESCRIPTORS_TIGER
    (message,) = load_prompt("descriptors").render_messages({"category": "tiger"})
    assert message == {"role": "user", "content": DESCRIPTORS_TIGER}


def test_socratic_caption_and_cot_render() -> None:
    caption = load_prompt("socratic_caption").render({
        "img_type": "photo", "num_people": "are two people", "places": ["park", "zoo", "beach"],
        "objects": ["dog", "frisbee"],
    })
    assert caption.startswith("I am an intelligent image captioning bot.\nThis image is a photo. There are two people.\n")
    assert "taken at a park, zoo, or beach." in caption and "a dog, frisbee in this photo" in caption
    assert caption.endswith("A creative short caption I can generate to describe this image is:")
    assert load_prompt("cot_zero_shot").render({"question": "2+2?"}) == "Q: 2+2?\nA: Let's think step by step."
    answer = load_prompt("cot_answer").render({"question": "2+2?", "reasoning": "Two and two make 4."})
    assert answer == "Q: 2+2?\nA: Let's think step by step. Two and two make 4.\nTherefore, the answer is"


# --------------------------------------------------------------------------- chat, shots, strictness


def test_chat_sections_become_messages() -> None:
    t = PromptTemplate.from_string("<|system|>\nBe brief.\n<|user|>\nQ: {{ q }}\n<|assistant|>\nA:")
    assert t.is_chat
    assert t.render_messages({"q": "why?"}) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q: why?"},
        {"role": "assistant", "content": "A:"},
    ]
    assert load_prompt("hello").render_messages({"topic": "owls"})[1] == {
        "role": "user", "content": "Give one short sentence about owls."}
    with pytest.raises(GraphError, match="text before the first <\\|role\\|> marker"):
        PromptTemplate.from_string("hello\n<|user|>\nx")


def test_shots_go_through_the_last_user_section() -> None:
    t = PromptTemplate.from_string("<|system|>\nAnswer with a number.\n<|user|>\nQ: {{ q }}")
    msgs = t.render_messages({"q": "3+3?"}, shots=[{"q": "1+1?", "answer": 2}, {"q": "2+2?", "answer": "4"}])
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in msgs[1:]] == ["Q: 1+1?", "2", "Q: 2+2?", "4", "Q: 3+3?"]
    plain = PromptTemplate.from_string("Q: {{ q }}").render_messages({"q": "z"}, shots=[{"q": "y", "answer": "1"}])
    assert plain == [{"role": "user", "content": "Q: y"}, {"role": "assistant", "content": "1"},
                     {"role": "user", "content": "Q: z"}]
    with pytest.raises(SocraticError, match="shot 0 has no 'answer'"):
        t.render_messages({"q": "a"}, shots=[{"q": "b"}])


def test_undefined_variables_are_errors() -> None:
    with pytest.raises(SocraticError, match="'y' is undefined"):
        PromptTemplate.from_string("{{ x }} {{ y }}").render({"x": 1})
    with pytest.raises(SocraticError, match="'objects' is undefined"):
        load_prompt("socratic_caption").render({"img_type": "photo", "num_people": "is nobody",
                                                "places": ["a", "b", "c"]})
    with pytest.raises(SocraticError, match="has no element 2"):
        load_prompt("socratic_caption").render({"img_type": "photo", "num_people": "is nobody",
                                                "places": ["a", "b"], "objects": ["x"]})


@pytest.mark.parametrize("source", ["{{ x.__class__ }}", "{{ ''.__class__.__mro__ }}", "{{ x['__globals__'] }}",
                                    "{% for c in x.__subclasses__() %}{% endfor %}"])
def test_sandbox_refuses_internals_at_compile_time(source: str) -> None:
    with pytest.raises(GraphError, match="reaches Python internals"):
        PromptTemplate.from_string(source)


def test_sandbox_refuses_internals_at_render_time() -> None:
    def fn() -> None:
        return None

    t = PromptTemplate.from_string("{{ x|attr('__globals__') }}")  # compiles: the name is data
    with pytest.raises(SocraticError, match="unsafe"):
        t.render({"x": fn})
    with pytest.raises(SocraticError, match="unsafe"):
        PromptTemplate.from_string("{% set a = '__cla' ~ 'ss__' %}{{ ''|attr(a) }}").render({})


def test_syntax_errors_name_the_prompt_and_line() -> None:
    with pytest.raises(GraphError, match="prompt 'broken' line 2"):
        PromptTemplate("ok\n{{ x ", name="broken")


# --------------------------------------------------------------------------- lookup


def test_user_folders_come_before_shipped_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine, env_dir = tmp_path / "mine", tmp_path / "env"
    mine.mkdir()
    env_dir.mkdir()
    (mine / "descriptors.j2").write_text("Mine: {{ category }}")
    (env_dir / "descriptors.j2").write_text("Env: {{ category }}")
    (env_dir / "extra.j2").write_text("Extra {{ w }}")
    monkeypatch.setenv("SOCRATIC_PROMPTS_PATH", str(env_dir))
    assert load_prompt("descriptors", [mine]).render({"category": "x"}) == "Mine: x"
    assert load_prompt("descriptors").render({"category": "x"}) == "Env: x"
    assert load_prompt("extra", [mine]).variables == {"w"}
    assert "extra" in available_prompts([mine])
    monkeypatch.delenv("SOCRATIC_PROMPTS_PATH")
    assert load_prompt("descriptors", [mine]).path == str(mine / "descriptors.j2")
    assert load_prompt("descriptors").render({"category": "x"}) == DESCRIPTORS_TIGER.replace("tiger", "x")
    assert load_prompt("extra.j2", [env_dir]).render({"w": 1}) == "Extra 1"


def test_unknown_template_suggests_the_closest() -> None:
    with pytest.raises(GraphError) as exc:
        load_prompt("descriptor")
    assert "prompt template 'descriptor' not found (did you mean 'descriptors'?)" in exc.value.message
    assert "available: " in exc.value.message and "socratic_caption" in exc.value.message


# --------------------------------------------------------------------------- parsers


def test_bullets_with_a_bare_first_line_stop_at_the_next_question() -> None:
    answer = " striped orange fur\n- black stripes\n- large paws\n\nQ: What are useful visual features for"
    assert make_parser("bullets").parse(answer) == ["striped orange fur", "black stripes", "large paws"]


def test_bullets_markers_and_numbered_lists() -> None:
    bullets = make_parser("bullets")
    assert bullets.parse("- a\n* b\n• c\n  - d  ") == ["a", "b", "c", "d"]
    assert bullets.parse("1. one\n2) two\n10. ten\nQ: next\n- not this") == ["one", "two", "ten"]
    assert bullets.parse("Some features:\n- x\n- y") == ["Some features:", "x", "y"]
    assert bullets.output_type == list[str]
    for bad in ("", "  \n\n", "-\n- "):
        with pytest.raises(ParseError, match="no bullet items"):
            bullets.parse(bad)


def test_lines() -> None:
    assert make_parser("lines").parse("\n a \n\n b\n") == ["a", "b"]
    with pytest.raises(ParseError, match="no lines"):
        make_parser("lines").parse(" \n ")


@pytest.mark.parametrize(
    ("text", "value"),
    [("The answer is 42.", 42.0), ("about 1,234.5 people", 1234.5), ("1,000,000 stars", 1e6),
     ("-3 degrees", -3.0), ("it fell by -0.25", -0.25), ("only .5 left", 0.5), ("+7", 7.0),
     ("3 or 4", 3.0), ("12 apples, 3 pears", 12.0)],
)
def test_number(text: str, value: float) -> None:
    assert make_parser("number").parse(text) == value


def test_number_without_digits_is_a_parse_error_with_the_raw_text() -> None:
    with pytest.raises(ParseError) as exc:
        make_parser("number").parse("I cannot say")
    assert exc.value.raw == "I cannot say" and "raw text: 'I cannot say'" in str(exc.value)


def test_json_into_declared_types() -> None:
    assert make_parser({"json": "list[int]"}).parse("Sure:\n```json\n[1, \"2\", 3]\n```") == [1, 2, 3]
    assert make_parser({"json": "dict[str, float]"}).parse('{"cat": 0.9, "dog": 1}') == {"cat": 0.9, "dog": 1.0}
    assert make_parser("json").parse('Result: {"a": [1, {"b": null}]} done') == {"a": [1, {"b": None}]}
    parser = make_parser({"json": "dict[str, int]"})
    assert isinstance(parser, Json) and parser.output_type == dict[str, int]
    assert parser.spec() == {"json": "dict[str, int]"} and make_parser("json").spec() == "json"


@pytest.mark.parametrize(("spec", "text", "reason"), [
    ({"json": "list[int]"}, '["a", "b"]', "not a list[int]"),
    ({"json": "dict[str, int]"}, '["a"]', "not a dict[str, int]"),
    ("json", "no json at all", "no JSON value found"),
])
def test_invalid_json_is_a_parse_error_with_the_raw_text(spec: object, text: str, reason: str) -> None:
    with pytest.raises(ParseError) as exc:
        make_parser(spec).parse(text)
    assert exc.value.raw == text and reason in exc.value.reason


def test_json_finds_the_array_after_a_number_in_the_prose() -> None:
    # bug: Json.parse takes the first decodable value, so the "3" wins over the list (whose type
    # then fails); the docstring promises "the first JSON object or array in the text"
    assert make_parser({"json": "list[int]"}).parse("Here are 3 numbers: [1, 2, 3]") == [1, 2, 3]


def test_regex() -> None:
    assert make_parser({"regex": "answer: (\\d+)"}).parse("So the Answer: 17 apples") == "17"
    assert make_parser({"regex": "[a-z]+ing"}).parse("I am running.") == "running"
    with pytest.raises(ParseError) as exc:
        make_parser({"regex": "x(\\d)"}).parse("nothing")
    assert exc.value.reason == "pattern 'x(\\\\d)' not found" and exc.value.raw == "nothing"


def test_choice_exact_embedded_earliest_longest() -> None:
    choice = make_parser({"choice": ["cat", "dog", "sea", "sea lion"]})
    assert choice.parse("DOG") == "dog"
    assert choice.parse(" Cat. ") == "cat"
    assert choice.parse("I think it is a Dog.") == "dog"
    assert choice.parse("a dog chasing a cat") == "dog"
    assert choice.parse("a cat chasing a dog") == "cat"
    assert choice.parse("a sea lion on the beach") == "sea lion"
    labels = make_parser({"choice": ["wild cat", "cat"]})
    assert labels.parse("a wild cat") == "wild cat" and labels.parse("cat") == "cat"


def test_choice_whole_words_and_errors() -> None:
    choice = make_parser({"choice": ["cat", "dog"]})
    with pytest.raises(ParseError) as exc:
        choice.parse("the catalogue of dogs")
    assert "none of the labels ['cat', 'dog'] found" in exc.value.reason
    assert exc.value.raw == "the catalogue of dogs"


def test_choice_labels_at_run_time() -> None:
    choice = make_parser("choice")
    assert isinstance(choice, Choice) and choice.needs_choices
    assert choice.parse("It's B.", choices=["A", "B"]) == "B"
    with pytest.raises(ParseError, match="no labels to choose from"):
        choice.parse("B")


@pytest.mark.parametrize(("spec", "message"), [
    ("regex", "regex needs a pattern"),
    ({"regex": "("}, "parse regex '('"),
    ({"choice": "cat"}, "choice needs a list of labels"),
    ({"choice": ["cat", 3]}, "choice needs a list of labels"),
    ({"json": "lst[int]"}, "parse json: unknown type 'lst'"),
    ("yaml", "unknown parser 'yaml'; known: text, lines, bullets, number, json, choice, regex"),
    ({"json": "int", "regex": "x"}, "unknown parser"),
    (3, "unknown parser 3"),
])
def test_make_parser_errors(spec: object, message: str) -> None:
    with pytest.raises(GraphError) as exc:
        make_parser(spec)
    assert message in exc.value.message


def test_make_parser_defaults() -> None:
    assert type(make_parser(None)) is Parser and make_parser("text").parse("  hi \n") == "hi"
    existing = make_parser("lines")
    assert make_parser(existing) is existing
