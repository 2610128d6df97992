"""``vote.majority``: self-consistency voting over sampled answers.

Tie rule: among answers with the top count, the one whose first occurrence comes earliest in
the sample order wins (deterministic, and with one sample it is that sample). Answers are
compared after stripping and lower-casing (``normalize: false`` compares them exactly); the
winning answer is returned as first written.

Example:
    >>> MajorityVote().run(answers=["12", "11", " 12", "11"])
    {'answer': '12', 'votes': {'12': 2, '11': 2}, 'agreement': 0.5}
    >>> MajorityVote().run(answers=[4.0, 8.0, 4])["votes"]
    {'4': 2, '8': 1}
"""

from __future__ import annotations

from typing import Any

from ..errors import SocraticError
from ..node import Node


def _as_text(answer: Any) -> str:
    """Numbers compare by value: 4, 4.0 and "4" are the same vote."""
    if isinstance(answer, float) and answer.is_integer():
        return str(int(answer))
    return str(answer)


class MajorityVote(Node):
    """Majority vote with a documented tie rule (see the module docstring).

    Example:
        >>> MajorityVote().run(answers=["a", "b", "b"])["answer"]
        'b'
    """

    outputs = {"answer": str, "votes": dict[str, int], "agreement": float}

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize

    def run(self, answers: list[Any]) -> dict[str, Any]:
        if not answers:
            raise SocraticError("vote.majority got no answers")
        counts: dict[str, int] = {}
        first: dict[str, str] = {}
        for a in answers:
            text = _as_text(a)
            key = " ".join(text.lower().split()) if self.normalize else text
            counts[key] = counts.get(key, 0) + 1
            first.setdefault(key, text.strip() if self.normalize else text)
        top = max(counts.values())
        winner = next(k for k in counts if counts[k] == top)  # dicts keep first-seen order
        return {
            "answer": first[winner],
            "votes": {first[k]: v for k, v in counts.items()},
            "agreement": top / len(answers),
        }
