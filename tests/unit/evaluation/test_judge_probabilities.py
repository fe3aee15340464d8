"""The judge scored from option probabilities: verdicts in both orders, readable raw scores, wrong backends."""

from __future__ import annotations

import re

import pytest

from selftrain_core.backends.base import ChatResult, Completion
from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.evaluate.judge import PairwiseJudge, VerdictCache, prompt_id
from selftrain_core.stages.evaluate.verdicts import Comparison, logprobs_reply, parse_verdict

COMPARISONS = [
    Comparison("q1", "Capital of France?", "Paris.", "Lyon is the capital.", "Paris."),
    Comparison("q2", "Who wrote it?", "Orwell.", "Orwell.", "Huxley wrote it."),
    Comparison("q3", "Same?", "Yes.", "Yes.", "Yes."),
]


def field(prompt: str, name: str) -> str:
    return prompt.split(f"{name}: ")[1].split("\n")[0]


class OptionScorer:
    """A backend with option_logprobs: it prefers the answer equal to the reference; it cannot generate."""

    def __init__(self):
        self.prompts, self.options = 0, None

    def generate(self, requests):
        raise AssertionError("scoring 'probabilities' must not generate")

    def option_logprobs(self, prompts, options):
        self.prompts += len(prompts)
        self.options = list(options)
        out = []
        for messages in prompts:
            text = messages[0]["content"]
            assert text.rstrip().endswith("Reply with one word and nothing else: A, B or tie.")
            a, b, reference = (field(text, name) for name in ("Answer A", "Answer B", "Reference answer"))
            out.append([-0.1053605, -2.3025851, -4.0] if a == reference else [-2.3025851, -0.1053605, -4.0])
            if a != reference and b != reference:
                out[-1] = [-1.0, -1.0, -3.0]
        return out


class GenerateOnly:
    def generate(self, requests):
        return [ChatResult(r.request_id, [Completion("Verdict: A")]) for r in requests]


def test_verdicts_are_the_most_probable_option_in_both_orders_and_the_raw_scores_read_back(tmp_path):
    backend = OptionScorer()
    judge = PairwiseJudge(lambda: backend, "fp", cache=VerdictCache("p", tmp_path), scoring="probabilities")
    rows = judge.verdicts(COMPARISONS)
    assert backend.options == ["A", "B", "tie"] and backend.prompts == 4
    assert [(r["base_first"], r["trained_first"], r["outcome"]) for r in rows] == [
        ("B", "A", "trained"),
        ("A", "B", "base"),
        ("same", "same", "tie"),
    ]
    assert rows[0]["base_first_raw"] == "logprobs A=-2.3026 B=-0.1054 tie=-4.0000"
    assert rows[0]["trained_first_raw"] == "logprobs A=-0.1054 B=-2.3026 tie=-4.0000"
    for row in rows[:2]:
        for order in ("base_first", "trained_first"):
            assert parse_verdict(row[f"{order}_raw"]) == row[order]

    again = PairwiseJudge(lambda: backend, "fp", cache=VerdictCache("p", tmp_path), scoring="probabilities")
    assert again.verdicts(COMPARISONS) == rows and again.asked == 0 and backend.prompts == 4


@pytest.mark.parametrize(
    ("raw", "verdict"),
    [
        (logprobs_reply([-0.5, -1.5, -2.0]), "A"),
        (logprobs_reply([-1.5, -0.5, -2.0]), "B"),
        (logprobs_reply([-1.5, -2.0, -0.5]), "tie"),
        ("logprobs A=-0.7000 B=-0.7000 tie=-3.0000", "tie"),  # equal maxima: no preference
        (logprobs_reply([-0.70001, -0.70004, -3.0]), "tie"),  # equal once rounded: the stored text decides
        ("logprobs A=nan B=-1.0000 tie=-2.0000", "invalid"),
        ("logprobs A=-inf B=-1.0000 tie=-2.0000", "B"),
        ("logprobs A=x B=-1.0000 tie=-2.0000", "invalid"),
        ("logprobs of A are high\nVerdict: A", "A"),  # not a stored scoring: read as a reply
    ],
)
def test_stored_option_scores_are_read_back(raw, verdict):
    assert parse_verdict(raw) == verdict


def test_a_backend_without_option_logprobs_is_a_config_error(tmp_path):
    judge = PairwiseJudge(lambda: GenerateOnly(), "fp", cache=VerdictCache("g", tmp_path), scoring="probabilities")
    with pytest.raises(ConfigError, match=r"evaluate\.judge\.scoring.*GenerateOnly"):
        judge.verdicts(COMPARISONS)
    cached = PairwiseJudge(lambda: GenerateOnly(), "fp", cache=VerdictCache("g", tmp_path))
    assert [r["outcome"] for r in cached.verdicts(COMPARISONS)] == ["tie", "tie", "tie"], "generate still works"


def test_the_scorings_use_their_own_template_and_cache_namespace(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFTRAIN_CACHE", str(tmp_path))
    assert prompt_id("generate") == "judge_pairwise" and prompt_id("probabilities") == "judge_pairwise_label"
    label = load_prompt("judge_pairwise_label")
    values = {"question": "q", "reference": "r", "answer_a": "a", "answer_b": "b"}
    assert label.render(**values)  # same placeholders as judge_pairwise (StrictUndefined would raise)
    assert load_prompt("judge_pairwise").render(**values)
    generate = PairwiseJudge(lambda: None, "fp", cache=VerdictCache("x", tmp_path))
    scored = PairwiseJudge(lambda: None, "fp", cache=VerdictCache("x", tmp_path), scoring="probabilities")
    assert scored.prompt.sha256 == label.sha256 != generate.prompt.sha256
    folders = {PairwiseJudge(lambda: None, "fp", scoring=s).cache.folder for s in ("generate", "probabilities")}
    assert len(folders) == 2
    with pytest.raises(ConfigError, match="evaluate.judge.scoring"):
        PairwiseJudge(lambda: None, "fp", scoring="logits")
    assert RunConfig().evaluate.judge.scoring == "generate"


def test_a_tiny_hf_judge_scores_the_options(tiny_lm, tmp_path):
    from selftrain_core.backends.hf import HFBackend
    from selftrain_core.models.loading import load_causal_lm, load_tokenizer
    from selftrain_core.models.resolve import resolve_model

    model = resolve_model(str(tiny_lm))
    backend = HFBackend(load_causal_lm(model, device="cpu"), load_tokenizer(model), batch_size=4)
    judge = PairwiseJudge(lambda: backend, "tiny", cache=VerdictCache("h", tmp_path), scoring="probabilities")
    rows = judge.verdicts(COMPARISONS[:2])
    pattern = re.compile(r"logprobs A=-?\d+\.\d{4} B=-?\d+\.\d{4} tie=-?\d+\.\d{4}")
    for row in rows:
        for order in ("base_first", "trained_first"):
            assert pattern.fullmatch(row[f"{order}_raw"]), row[f"{order}_raw"]
            assert row[order] in {"A", "B", "tie"} and parse_verdict(row[f"{order}_raw"]) == row[order]


def test_the_evaluate_plan_names_the_judge_template_in_use(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    from selftrain_core.config.loading import build_run_config
    from selftrain_core.stages.evaluate import stage as evaluate
    from selftrain_core.store.artifact_store import ArtifactRef
    from tests.conftest import tiny_config_data

    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path)
    refs = [ArtifactRef(stage=s, key="k", uri=f"mem://{s}") for s in ("train", "answers", "score", "chunk")]
    plans = {}
    for scoring in ("generate", "probabilities"):
        cfg = build_run_config({**data, "evaluate": {**data["evaluate"], "judge": {"scoring": scoring}}})
        plans[scoring] = evaluate.plan(cfg, *refs)
    assert "judge_pairwise" in {p["prompt_id"] for p in plans["generate"].prompts}
    used = {p["prompt_id"] for p in plans["probabilities"].prompts}
    assert "judge_pairwise_label" in used and "judge_pairwise" not in used
    assert plans["generate"].key != plans["probabilities"].key
