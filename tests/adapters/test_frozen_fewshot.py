"""Frozen (Tsimpoukelli et al. 2021) few-shot prompting uses its interleaved context.

The Frozen bridge is trained on captions only (tests/adapters/conftest.py); its LM stand-in can
read a context (tests/adapters/fewshot.py). Task: two shots ``[image] is red``, ``[image] is
blue`` ask for the colour (or, with ``is circle``, the shape) of the first-named object; the
query ``[image] is`` must be answered with the query image's attribute of that kind (so the
answer also reads the query image). For the same query image the right answer depends on the
shots, so a model that ignores them cannot be right for both kinds; without the shots it is
right at most for the one kind it defaults to.
"""

from __future__ import annotations

import random

import pytest

from .fewshot import ATTRIBUTES, episode

pytestmark = pytest.mark.slow

N = 32


def _first(vlm, segments) -> str:
    out = vlm.generate_interleaved(segments, max_new_tokens=2)[0].split()
    return out[0] if out else ""


@pytest.fixture(scope="module")
def answers(trained):
    from socratic.adapters.synthetic import make_shapes_dataset

    vlm = trained["frozen"].vlm
    pool = make_shapes_dataset(120, seed=12345)
    rng = random.Random(0)
    rows = []
    for _ in range(N):
        s1, s2, q = rng.sample(pool, 3)
        row = {"query": q}
        for attribute in ATTRIBUTES:
            segments, want = episode([s1, s2], q, attribute)
            row[attribute] = (_first(vlm, segments), want)
        row["alone"] = _first(vlm, [q.image, " is"])   # the context removed
        rows.append(row)
    return rows


def test_the_shots_decide_what_is_answered_about_the_query_image(answers):
    per_kind = {a: sum(r[a][0] == r[a][1] for r in answers) / N for a in ATTRIBUTES}
    both = sum(all(r[a][0] == r[a][1] for a in ATTRIBUTES) for r in answers) / N
    print(f"few-shot accuracy {per_kind}, right for both kinds {both:.2f}")
    assert min(per_kind.values()) >= 0.75 and both >= 0.6   # measured 0.91 each / 0.81 (seed 0)


def test_without_the_context_it_fails(answers):
    # one answer per query image: right for at most one of the two kinds of question
    alone = sum(r["alone"] == r[a][1] for r in answers for a in ATTRIBUTES) / (2 * N)
    with_context = sum(r[a][0] == r[a][1] for r in answers for a in ATTRIBUTES) / (2 * N)
    print(f"query alone {alone:.2f} vs with the shots {with_context:.2f}")
    assert alone <= 0.55 and with_context >= alone + 0.3
