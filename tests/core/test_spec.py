import textwrap

import pytest

from socratic import ValidationFailed
from socratic.spec import load_graph, load_graph_text

from . import helpers  # noqa: F401  (registers the test.* node types)
from .helpers import ScriptedLLM

GOOD = textwrap.dedent(
    """\
    name: words
    description: split, shout and count
    inputs:
      text: str
      sep: {type: str, default: " | "}
    nodes:
      words:
        type: test.split
        text: ${inputs.text}
      shout:
        type: test.upper
        for_each:
          text: ${words.output}
      joined:
        type: text.join
        items: ${shout.output}
        separator: ", "
      count:
        type: test.length
        text: ${joined.output}
    outputs:
      joined: ${joined.output}
      count: ${count.output}
    """
)


def errors_of(text: str, **kw) -> list[str]:
    with pytest.raises(ValidationFailed) as exc:
        load_graph_text(text, "g.yaml", **kw)
    return [str(e) for e in exc.value.errors]


def test_good_graph_runs():
    g = load_graph_text(GOOD, "g.yaml")
    assert g.run(text="a bb") == {"joined": "A, BB", "count": 5}


def test_round_trip_to_yaml_and_back():
    g = load_graph_text(GOOD, "g.yaml")
    text = g.to_yaml()
    g2 = load_graph_text(text, "again.yaml")
    assert g2.to_dict() == g.to_dict()
    assert g2.run(text="x y") == g.run(text="x y")


def test_yaml_syntax_error_has_line_and_hint():
    (e,) = errors_of("nodes:\n  a: {type: test.upper, text: ${inputs.t}}\n")
    assert e.startswith("g.yaml:2:") and "quote ${...}" in e


def test_unknown_node_type_suggests_closest():
    (e,) = errors_of(GOOD.replace("type: test.upper", "type: test.uper"))
    assert e.startswith("g.yaml:11:11:") and "unknown node type 'test.uper' (did you mean 'test.upper'?)" in e


def test_missing_node_and_socket_references():
    errs = errors_of(GOOD.replace("${shout.output}", "${shuot.output}").replace(
        "text: ${joined.output}", "text: ${joined.outptu}"))
    text = "\n".join(errs)
    assert "g.yaml:16:12: error: input 'joined.items': ${shuot.output} refers to no node named 'shuot' (did you mean 'shout'?)" in text
    assert "g.yaml:20:11: error: input 'count.text': node 'joined' has no output 'outptu'" in text


def test_type_mismatch_names_both_sockets_and_types():
    (e,) = errors_of(GOOD.replace("text: ${joined.output}", "text: ${words.output}"))
    assert e == (
        "g.yaml:20:11: error: type mismatch: ${words.output} is list[str] but 'count.text' "
        "expects str (to run once per element, use for_each)"
    )


def test_cycle_names_the_nodes():
    text = GOOD.replace("text: ${inputs.text}", "text: ${joined.output}")
    errs = errors_of(text)
    assert any("cycle: joined -> shout -> words -> joined" in e for e in errs), errs


def test_every_problem_reported_at_once_in_line_order():
    bad = GOOD.replace("type: test.upper", "type: test.uper").replace(
        "separator: \", \"", "separator: 3").replace("${count.output}", "${cnt.output}").replace(
        "type: test.length", "type: test.length\n    colour: red")
    errs = errors_of(bad)
    assert len(errs) >= 3
    lines = [int(e.split(":")[1]) for e in errs]
    assert lines == sorted(lines)
    text = "\n".join(errs)
    assert "option 'separator': Input should be a valid string" in text
    assert "has no input or option 'colour'" in text
    assert "no node named 'cnt'" in text


def test_unbound_required_input_and_template_variable():
    errs = errors_of(
        "inputs: {x: str}\nnodes:\n  t: {type: text.template, template: '{{ a }} {{ b }}', a: '${inputs.x}'}\n"
        "outputs: {o: '${t.output}'}\n"
    )
    assert errs == [
        "g.yaml:3:3: error: node 't': required input 'b' (any) (variable of template '<inline>') has no source"
    ]


def test_template_reaching_python_internals_is_refused():
    (e,) = errors_of("nodes:\n  t: {type: text.template, template: '{{ x.__class__ }}', x: 1}\n")
    assert "reaches Python internals ('__class__')" in e and e.startswith("g.yaml:2:3")


def test_schema_errors_are_located():
    errs = errors_of("inputs: {x: str}\nnodez: {}\n")
    assert any(e.startswith("g.yaml:2:1: error: unknown key 'nodez'") for e in errs)
    assert any("missing required key 'nodes'" in e for e in errs)
    errs = errors_of("inputs: {x: strr}\nnodes: {}\n")
    assert errs[0].startswith("g.yaml:1:13: error: input 'x': unknown type 'strr'")


def test_duplicate_keys_are_errors():
    (e,) = errors_of("nodes:\n  a: {type: test.upper}\n  a: {type: test.upper}\n")
    assert e == "g.yaml:3:3: error: duplicate key 'a'"


def test_constants_are_type_checked():
    (e,) = errors_of("nodes:\n  p: {type: test.add, a: seven}\noutputs: {o: '${p.output}'}\n")
    assert e == "g.yaml:2:26: error: 'p.a' expects float, got str 'seven'"


def test_embedded_reference_in_text_is_an_error():
    (e,) = errors_of("inputs: {x: str}\nnodes:\n  u: {type: test.upper, text: 'hi ${inputs.x}'}\n")
    assert "mixes text and a reference" in e


def test_models_are_checked_without_loading():
    base = "models:\n  llm: {backend: openaii, model: m}\nnodes:\n  g: {type: llm.generate, model: llm, template: hi}\n"
    errs = errors_of(base)
    assert any("unknown model backend 'openaii' (did you mean 'openai'?)" in e for e in errs)
    errs = errors_of("nodes:\n  g: {type: llm.generate, model: llm, template: hi}\n")
    assert any("model 'llm' is not in 'models'" in e for e in errs)


def test_overrides_are_validated_like_the_file():
    g = load_graph_text(GOOD, "g.yaml", overrides=["nodes.joined.separator=+", "inputs.sep.default=x"])
    assert g.run(text="a b")["joined"] == "A+B"
    errs = errors_of(GOOD, overrides=["nodes.joined.separator=[1, 2]"])
    assert any("option 'separator'" in e for e in errs)
    errs = errors_of(GOOD, overrides=["nodez.x.y=1"])
    assert "--set nodez.x.y: error: unknown key 'nodez' (did you mean 'nodes'?)" in errs


def test_prompt_templates_from_user_folder(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "mine.j2").write_text("Say {{ word }} twice.")
    (tmp_path / "g.yaml").write_text(
        "prompts_dir: prompts\ninputs: {w: str}\nnodes:\n"
        "  t: {type: text.template, prompt: mine, word: '${inputs.w}'}\noutputs: {o: '${t.output}'}\n"
    )
    assert load_graph(tmp_path / "g.yaml").run(w="hi") == {"o": "Say hi twice."}


def test_llm_generate_in_python_with_shots_and_parse():
    llm = ScriptedLLM(answer=lambda text, i: "Answer: 4", cache=False)
    from socratic import Graph
    from socratic.nodes.llm import Generate

    g = Graph()
    g.add_input("q", str)
    g.add_input("shots", list[dict])
    gen = Generate(llm, template="<|system|>\nBe brief.\n<|user|>\nQ: {{ q }}",
                   parse={"regex": "Answer: (\\d+)"}, few_shot=True)
    g.add("ask", gen, q="inputs.q", shots="inputs.shots")
    g.add_output("a", "ask.output")
    out = g.run(q="2+2?", shots=[{"q": "1+1?", "answer": "Answer: 2"}])
    assert out == {"a": "4"}
    msgs = llm.calls[0].as_messages()
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[1]["content"] == "Q: 1+1?" and msgs[3]["content"] == "Q: 2+2?"


def test_llm_generate_reasks_once_after_a_parse_failure():
    answers = iter(["no idea", "It is 42"])
    llm = ScriptedLLM(answer=lambda text, i: next(answers), cache=False)
    from socratic.nodes.llm import Generate

    gen = Generate(llm, template="{{ q }}", parse="number", reask=1)
    import asyncio

    assert asyncio.run(gen.arun(q="?"))["output"] == 42.0
    assert "could not be read" in llm.calls[1].as_messages()[-1]["content"]
    gen0 = Generate(ScriptedLLM(answer=lambda t, i: "none", cache=False), template="{{ q }}",
                    parse="number")
    from socratic.errors import ParseError

    with pytest.raises(ParseError, match="raw text: 'none'"):
        asyncio.run(gen0.arun(q="?"))


def test_show_yaml_of_every_example_round_trips_and_validates(tmp_path, capsys):
    from pathlib import Path

    import yaml

    from socratic.cli import main

    examples = sorted(Path(__file__).resolve().parents[2].glob("examples/*.yaml"))
    graphs = [p for p in examples if "nodes" in yaml.safe_load(p.read_text())]
    assert len(graphs) >= 7
    for path in graphs:
        assert main(["show", str(path), "--format", "yaml"]) == 0
        dumped = tmp_path / path.name  # another folder: relative paths must not break
        dumped.write_text(capsys.readouterr().out)
        code, err = main(["validate", str(dumped)]), capsys.readouterr().err
        assert code == 0, err
        assert load_graph(dumped).to_dict() == load_graph(path).to_dict()


def test_prompts_dir_survives_the_yaml_dump(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "mine.j2").write_text("Say {{ x }}")
    g = load_graph_text("prompts_dir: p\ninputs: {x: str}\nnodes:\n  t: {type: text.template, prompt: mine,"
                        " x: '${inputs.x}'}\noutputs: {o: '${t.output}'}\n", "g.yaml", base_dir=str(tmp_path))
    again = load_graph_text(g.to_yaml(), "elsewhere.yaml", base_dir="/")
    assert again.run(x="hi") == {"o": "Say hi"}


LISTS = textwrap.dedent(
    """\
    inputs: {topic: str}
    nodes:
      a: {type: text.template, template: "{{ t }}!", t: "${inputs.topic}"}
      both:
        type: text.join
        separator: " | "
        items: ["${a.output}", "x", "${inputs.topic}", "costs $${5}"]
      nested:
        type: text.template
        template: "{{ d.first[0] }} {{ d.second }}"
        d: {first: ["${both.output}"], second: "${a.output}"}
    outputs: {joined: "${both.output}", nested: "${nested.output}"}
    """
)


def test_references_inside_lists_and_mappings_are_resolved():
    g = load_graph_text(LISTS, "g.yaml")
    assert g.run(topic="owls") == {"joined": "owls! | x | owls | costs ${5}",
                                   "nested": "owls! | x | owls | costs ${5} owls!"}
    again = load_graph_text(g.to_yaml(), "again.yaml")  # the dump keeps references and escapes
    assert again.run(topic="owls") == g.run(topic="owls")


def test_references_inside_lists_are_validated_like_bare_ones():
    errs = errors_of(LISTS.replace('"${a.output}", "x"', '"${nope.output}", "x"'))
    assert errs == ["g.yaml:7:13: error: input 'both.items[0]': ${nope.output} refers to no node"
                    " named 'nope'"]
    cycle = LISTS.replace('t: "${inputs.topic}"', 't: "${nested.output}"')
    assert any("cycle: a -> nested -> both -> a" in e for e in errors_of(cycle))
    typed = LISTS.replace("type: text.join", "type: test.length\n    text: x").replace(
        "    separator: \" | \"\n", "")
    assert any("has no input or option 'items'" in e for e in errors_of(typed))


def test_element_types_are_checked_inside_lists():
    text = textwrap.dedent(
        """\
        inputs: {n: int, words: "list[str]"}
        nodes:
          j: {type: text.join, items: ["${inputs.words}", "x"]}
        outputs: {o: "${j.output}"}
        """
    )
    (e,) = errors_of(text)
    assert e == ("g.yaml:3:32: error: type mismatch: ${inputs.words} is list[str] but 'j.items[0]'"
                 " expects str")
    errs = errors_of(text.replace('["${inputs.words}", "x"]', '["${inputs.n}", 3]'))
    assert errs == ["g.yaml:3:31: error: 'j.items[1]' expects str, got int 3",
                    "g.yaml:3:32: error: type mismatch: ${inputs.n} is int but 'j.items[0]' expects str"]


def test_text_with_an_embedded_reference_is_an_error_everywhere():
    errs = errors_of(LISTS.replace('"x", "${inputs.topic}"', '"x", "hello ${inputs.topic}"'))
    assert any("'items[2]' mixes text and a reference" in e and "$${" in e for e in errs)
    errs = errors_of(LISTS.replace("inputs: {topic: str}",
                                   "inputs: {topic: {type: str, default: '${a.output}'}}"))
    assert any("the default of input 'topic' is configuration and cannot take a reference" in e
               for e in errs)
    errs = errors_of(LISTS.replace('separator: " | "', 'separator: "${inputs.topic}"'))
    assert any("option 'separator' is configuration and cannot take a reference" in e for e in errs)


def test_every_mistake_at_once_model_options_references_types():
    text = textwrap.dedent(
        """\
        inputs: {q: str}
        models:
          llm: {backend: replay, path: r.jsonl, temprature: 0}
          other: {backend: nope}
        nodes:
          gen: {type: llm.generate, model: llm, template: "{{ x }}", x: "${inputs.qq}"}
          join: {type: text.join, items: "${gen.text}"}
          bad: {type: llm.generate, model: other, template: "{{ y }}", y: "${nowhere.output}"}
        outputs: {o: "${join.output}"}
        """
    )
    errs = errors_of(text)
    assert any("g.yaml:3:41: error: model 'llm' (replay): unknown key 'temprature' (did you mean"
               " 'temperature'?)" in e for e in errs)
    assert any("unknown model backend 'nope'" in e for e in errs)
    assert any("${inputs.qq} refers to an unknown graph input 'qq' (did you mean 'q'?)" in e for e in errs)
    assert any("type mismatch: ${gen.text} is str but 'join.items' expects list[str]" in e for e in errs)
    assert any("${nowhere.output} refers to no node named 'nowhere'" in e for e in errs)
    assert len(errs) == 5, errs
