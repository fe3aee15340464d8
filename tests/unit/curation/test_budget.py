"""The training budget: exactly max_questions questions keep rows, the same ones whatever the input order."""

import random

import pyarrow as pa

from selftrain_core.config import RunConfig
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.curate import stage as curate
from selftrain_core.stages.curate.budget import apply_budget, over_budget
from selftrain_core.store import ArtifactStore
from selftrain_core.store.writer import ArtifactWriter


def _cfg(**curate_settings):
    return RunConfig(curate={"answerable_threshold": 0.5, "known_threshold": 0.8, **curate_settings})


def _score(i, s_k):
    return {
        "score_id": f"score-{i}",
        "answer_id": f"ans-{i}",
        "question_id": f"q-{i}",
        "split": "train",
        "s_l": 0.9,
        "s_k": s_k,
        "no_doc_scores": [0.9, 0.1],
    }


def _answer(i, no_doc=("Paris.", "Lyon is the capital.")):
    return {
        "answer_id": f"ans-{i}",
        "question": f"Question {i}?",
        "reference": "Paris is the capital.",
        "no_doc": list(no_doc),
    }


# q-0..q-6 unknown (trained), q-7..q-9 known (rejected as known while the filter is on)
SCORES = [_score(i, 0.3 if i < 7 else 0.9) for i in range(10)]
ANSWERS = [_answer(i) for i in range(10)]


def _curated(cfg, scores=SCORES):
    answers = {a["answer_id"]: a for a in ANSWERS}
    return [curate.curate_rows(cfg, "k", s, answers[s["answer_id"]]) for s in scores]


def _trained(questions):
    return {r["question_id"] for q in questions for r in q["data"] + q["sft"]}


def _reasons(questions):
    return {r["question_id"]: r["reason"] for q in questions for r in q["rejected"]}


def test_budget_keeps_exactly_max_questions_and_rejects_the_rest_as_over_budget():
    out = apply_budget(_curated(_cfg()), 3, seed=0)
    kept = _trained(out)
    assert len(kept) == 3 and kept <= {f"q-{i}" for i in range(7)}
    reasons = _reasons(out)
    assert sorted(q for q, r in reasons.items() if r == "over_budget") == sorted({f"q-{i}" for i in range(7)} - kept)
    assert all(reasons[f"q-{i}"] == "known" for i in range(7, 10)), "questions without rows are left as they were"
    assert all(len(q["rejected"]) == 1 for q in out if not _trained([q]))
    row = next(r for q in out for r in q["rejected"] if r["reason"] == "over_budget")
    assert set(row) == {"score_id", "question_id", "s_l", "s_k", "label", "reason"} and row["label"] == "unknown"


def test_budget_picks_the_same_questions_whatever_the_input_order():
    kept = _trained(apply_budget(_curated(_cfg()), 3, seed=0))
    for trial in range(5):
        shuffled = random.Random(trial).sample(SCORES, len(SCORES))
        assert _trained(apply_budget(_curated(_cfg(), shuffled), 3, seed=0)) == kept
    assert len({frozenset(over_budget([f"q-{i}" for i in range(7)], 3, seed)) for seed in range(5)}) > 1
    assert over_budget(["a", "b", "c"], 2, 0) <= over_budget(["a", "b", "c"], 1, 0), "a smaller budget keeps a subset"


def test_no_budget_or_a_large_one_changes_nothing():
    questions = _curated(_cfg())
    assert apply_budget(questions, None, seed=0) == questions
    assert apply_budget(questions, 7, seed=0) == questions
    assert over_budget(["a", "b"], None, 0) == set()


def test_an_sft_only_question_counts_against_the_budget():
    cfg = _cfg()
    empty = curate.curate_rows(cfg, "k", _score(0, 0.3) | {"no_doc_scores": [0.0]}, _answer(0, no_doc=("",)))
    assert empty["sft"] and _reasons([empty]) == {"q-0": "empty_samples"}
    (out,) = apply_budget([empty], 1, seed=0)
    assert out == empty
    both = apply_budget([empty, *_curated(cfg, SCORES[1:3])], 1, seed=0)
    dropped = {"q-0", "q-1", "q-2"} - _trained(both)
    assert len(dropped) == 2 and {q for q, r in _reasons(both).items() if r == "over_budget"} == dropped


def _write(store, stage, rows):
    writer = ArtifactWriter(store, stage, "k-" + stage)
    writer.write_table("data", pa.Table.from_pylist(rows))
    return writer.commit({})


def test_stage_without_filter_and_with_a_budget_matches_the_method_in_size(tmp_path):
    store = ArtifactStore(str(tmp_path))
    scores, answers = _write(store, "score", SCORES), _write(store, "answers", ANSWERS)

    def run(**settings):
        cfg = _cfg(**settings)
        ref = curate.run(cfg, curate.plan(cfg, scores, answers), store, RunInfo(), log=lambda _: None)
        return store.read_rows(ref, "sft"), store.read_rows(ref, "rejected"), store.manifest("curate", ref.key)

    sft, rejected, manifest = run()
    assert len(sft) == 7 and {r["reason"] for r in rejected} == {"known"}
    assert set(manifest["counts"]) == {"questions", "pairs", "sft"}, "the default manifest is as before"
    assert manifest["stage_version"] == curate.VERSION == 4

    sft, rejected, manifest = run(knowledge_filter=False)
    assert len(sft) == 10 and not rejected and manifest["labels"] == {"unknown": 7, "known": 3}

    sft, rejected, manifest = run(knowledge_filter=False, max_questions=7)
    assert len(sft) == 7 and [r["reason"] for r in rejected] == ["over_budget"] * 3
    assert manifest["counts"] == {"questions": 10, "pairs": 7, "sft": 7, "eligible": 10, "over_budget": 3}
    assert manifest["drops"] == {"over_budget": 3} and manifest["strategy"]["max_questions"] == 7
