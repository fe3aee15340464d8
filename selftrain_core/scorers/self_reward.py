"""Self-rewarding: the policy grades its own samples as an LLM judge with an additive 5-point rubric.

After Yuan et al. 2024, "Self-Rewarding Language Models": the model that is trained is also the judge, prompted
with a rubric and asked to end with "Score: <points>". Here the rubric also gives the document-grounded
reference, so the judge checks facts rather than style. A sample's score is points / 5; a reply with no readable
score counts 0.5 (it decides nothing either way) and is flagged `unparsed_grade`. Every grade is kept with the
judge's raw reply in `details`, so a reader can see what the judge said. The curate strategy `self-rewarding`
pairs the best-graded sample against the worst. With `score.reward_judge` set, that model grades instead of the
policy (a stronger judge than a small policy; the paper's setting is the policy itself).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from selftrain_core.backends.base import ChatRequest
from selftrain_core.prompts import load_prompt
from selftrain_core.scorers.base import ScoreInput, ScoreResult, has_text, result

MAX_POINTS = 5
REPLY_TOKENS = 64  # a sentence of justification and the score line
_SCORE = re.compile(r"score\W{0,4}(?:is\W{0,3})?([0-5])(?!\d|\.\d)(?:\s*(?:/|out of)\s*5)?", re.IGNORECASE)
_OUT_OF = re.compile(r"(?<![\d.])([0-5])\s*(?:/|out of)\s*5(?!\d)", re.IGNORECASE)
_POINTS = re.compile(r"(?<![\d.])([0-5])\s*points?\b", re.IGNORECASE)


def read_points(reply: str) -> int | None:
    """The points a judge's reply ends on ("Score: 4", "**Score**: 4/5", "4 out of 5", "3 points"); the last such
    statement counts (a justification may quote another number first); None when there is none."""
    for pattern in (_SCORE, _OUT_OF, _POINTS):
        found = pattern.findall(reply)
        if found:
            return int(found[-1])
    return None


class SelfReward:
    scorer_id = "self-reward"
    version = 1
    needs_document = False

    def __init__(self, backend, prompt_id: str = "self_reward"):
        self.backend, self.prompt = backend, load_prompt(prompt_id)

    @staticmethod
    def roles(settings) -> tuple[str, ...]:
        return ("judge",) if getattr(settings, "reward_judge", None) else ("policy",)

    @classmethod
    def open(cls, settings, models) -> SelfReward:
        return cls(models.judge if settings.reward_judge else models.policy, settings.reward_prompt)

    def score(self, items: Sequence[ScoreInput]) -> list[ScoreResult]:
        requests, where = [], []
        for i, item in enumerate(items):
            for k, sample in enumerate(item.samples):
                if has_text(sample) and has_text(item.reference):
                    messages = self.prompt.messages(question=item.question, reference=item.reference, response=sample)
                    requests.append(
                        ChatRequest(
                            request_id=f"reward/{i}/{k}", messages=messages, temperature=0.0, max_tokens=REPLY_TOKENS
                        )
                    )
                    where.append((i, k))
        replies = [r.completions[0].text for r in self.backend.generate(requests)] if requests else []
        graded: dict[tuple[int, int], tuple[int | None, str]] = {
            at: (read_points(reply), reply) for at, reply in zip(where, replies, strict=True)
        }
        out = []
        for i, item in enumerate(items):
            points = [graded.get((i, k), (None, ""))[0] for k in range(len(item.samples))]
            per_sample = [0.5 if p is None else p / MAX_POINTS for p in points]
            details = {"points": points, "replies": [graded.get((i, k), (None, ""))[1] for k in range(len(points))]}
            scored = result(per_sample, item, details)
            if any(p is None and (i, k) in graded for k, p in enumerate(points)):
                scored.flags.append("unparsed_grade")
            out.append(scored)
        return out
