import asyncio
import json
from typing import Any

import numpy as np
import pytest

from socratic.errors import ParseError, SocraticError
from socratic.llm.base import LLM, LLMResult
from socratic.recipes.episodes import sample_episode, select_similar
from socratic.recipes.reasoning import ChainOfThought, FewShotEpisode
from socratic.spec import load_graph_text


class Scripted(LLM):
    """Answers with a function of the request; records every request."""

    backend = "scripted"

    def __init__(self, fn, **config: Any) -> None:
        super().__init__(cache=False, **config)
        self.fn = fn
        self.requests = []

    async def _agenerate(self, request):
        self.requests.append(request)
        return LLMResult(texts=[self.fn(request, i) for i in range(request.n)])


POOL = [{"text": f"{c}-{i}", "label": c} for c in ["ant", "bee", "cat", "dog", "eel"] for i in range(6)]


def test_episodes_are_deterministic_and_shaped():
    a = sample_episode(POOL, n_way=3, k_shot=2, n_query=2, seed=7)
    b = sample_episode(list(reversed(POOL)), n_way=3, k_shot=2, n_query=2, seed=7)
    assert a == b
    assert len(a.classes) == 3 and len(a.support) == 6 and len(a.query) == 6
    assert {r["label"] for r in a.support} == set(a.classes) == {r["label"] for r in a.query}
    # support interleaves classes; support and query never overlap
    assert [r["label"] for r in a.support[:3]] == a.classes
    assert not {r["text"] for r in a.support} & {r["text"] for r in a.query}
    seeds = {tuple(sample_episode(POOL, n_way=3, k_shot=2, seed=s).classes) for s in range(10)}
    assert len(seeds) > 1  # the seed matters


def test_episode_needs_enough_examples():
    with pytest.raises(SocraticError, match="only 5 classes have 7 examples|only 0 classes"):
        sample_episode(POOL, n_way=2, k_shot=6, n_query=1)
    out = FewShotEpisode(n_way=2, k_shot=1, n_query=1, seed=3).run(pool=POOL)
    assert all(s["answer"] == s["label"] for s in out["shots"])


def test_similarity_selection_with_an_embedder_and_without():
    pool = [{"text": "x"}, {"text": "y"}, {"text": "z"}]
    vecs = {"q": [1, 0], "x": [0, 1], "y": [0.8, 0.6], "z": [0.6, 0.8]}

    def embed(texts):
        return np.array([vecs[t] for t in texts], dtype=np.float32)

    assert [r["text"] for r in select_similar("q", pool, 2, embed=embed)] == ["z", "y"]
    tf = select_similar("striped cat", [{"text": "a cat"}, {"text": "a car"}, {"text": "striped cat toy"}], 1)
    assert tf == [{"text": "striped cat toy"}]


def test_zero_shot_cot_two_stages_and_kept_reasoning():
    def answer(req, i):
        last = req.as_messages()[-1]["content"]
        return "5 + 6 = 11 balls." if last.endswith("Let's think step by step.") else " 11."

    llm = Scripted(answer)
    out = ChainOfThought(llm, parse="number").run_sync(question="Roger has 5 balls and buys 6. How many?")
    assert out == {"answer": "11", "answers": ["11"], "reasoning": ["5 + 6 = 11 balls."], "votes": {"11": 1}}
    first, second = (r.as_messages()[-1]["content"] for r in llm.requests)
    assert first == "Q: Roger has 5 balls and buys 6. How many?\nA: Let's think step by step."
    assert second.endswith("A: Let's think step by step. 5 + 6 = 11 balls.\nTherefore, the answer is")
    assert llm.requests[0].temperature == 0 and llm.requests[1].temperature == 0


def test_self_consistency_votes_over_samples():
    paths = ["so 8", "so 4", "so 4", "so 8", "so 4"]

    def answer(req, i):
        last = req.as_messages()[-1]["content"]
        if last.endswith("step by step."):
            return paths[i]
        return last.rsplit("so ", 1)[1].split("\n")[0]

    llm = Scripted(answer)
    out = ChainOfThought(llm, samples=5, parse="number").run_sync(question="q?")
    assert llm.requests[0].n == 5 and llm.requests[0].temperature == 0.7
    assert out["answers"] == ["8", "4", "4", "8", "4"]
    assert out["answer"] == "4" and out["votes"] == {"8": 2, "4": 3}
    assert len(llm.requests) == 6  # one sampling request + one extraction per path


def test_tie_goes_to_the_earliest_answer():
    paths = ["so b", "so a", "so a", "so b"]

    def answer(req, i):
        last = req.as_messages()[-1]["content"]
        return paths[i] if last.endswith("step by step.") else last.rsplit("so ", 1)[1].split("\n")[0]

    out = ChainOfThought(Scripted(answer), samples=4, parse={"choice": ["a", "b"]}).run_sync(question="?")
    assert out["votes"] == {"b": 2, "a": 2} and out["answer"] == "b"


def test_few_shot_cot_uses_exemplars_and_reads_the_answer():
    llm = Scripted(lambda req, i: "He has 5 + 6 = 11. The answer is 11.\n\nQ: next")
    ex = [{"question": "2 cars and 3 more?", "reasoning": "2 + 3 = 5.", "answer": "5"}]
    out = ChainOfThought(llm, parse="number").run_sync(question="5 and 6?", exemplars=ex)
    prompt = llm.requests[0].as_messages()[-1]["content"]
    assert prompt.startswith("Q: 2 cars and 3 more?\nA: 2 + 3 = 5. The answer is 5.\n\nQ: 5 and 6?\nA:")
    assert out["answer"] == "11" and len(llm.requests) == 1
    bad = Scripted(lambda req, i: "no conclusion")
    with pytest.raises(ParseError, match="raw text: 'no conclusion'"):
        ChainOfThought(bad).run_sync(question="?", exemplars=ex)


def test_chain_of_thought_from_yaml_with_replay(tmp_path):
    from socratic.prompt import load_prompt

    q = "What is 3 + 4?"
    rec = tmp_path / "rec.jsonl"
    stage1 = load_prompt("cot_zero_shot").render_messages({"question": q})
    stage2 = load_prompt("cot_answer").render_messages({"question": q, "reasoning": "3 + 4 = 7."})
    rec.write_text(json.dumps({"messages": stage1, "texts": ["3 + 4 = 7."]}) + "\n"
                   + json.dumps({"messages": stage2, "texts": ["7"]}) + "\n")
    g = load_graph_text(
        f"inputs: {{q: str}}\nmodels:\n  llm: {{backend: replay, path: {rec}, match: messages}}\n"
        "nodes:\n  cot: {type: reason.chain_of_thought, model: llm, parse: number, question: '${inputs.q}'}\n"
        "outputs: {a: '${cot.answer}', r: '${cot.reasoning}'}\n",
        "g.yaml",
    )
    assert asyncio.run(g.arun(q=q)) == {"a": "7", "r": ["3 + 4 = 7."]}


def test_few_shot_qa_renders_shots_as_turns_with_context():
    from socratic.nodes.llm import Generate

    llm = Scripted(lambda req, i: "Paris")
    gen = Generate(llm, prompt="fewshot_qa", few_shot=True)
    shots = [{"question": "Capital of Italy?", "context": "", "answer": "Rome"}]
    out = asyncio.run(gen.arun(question="Capital of France?", context="France is in Europe.", shots=shots))
    msgs = llm.requests[0].as_messages()
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[1]["content"] == "Question: Capital of Italy?" and msgs[2]["content"] == "Rome"
    assert msgs[3]["content"] == "Context: France is in Europe.\nQuestion: Capital of France?"
    assert out["output"] == "Paris"
