"""The evaluate stage on tiny local models: reproducible, judged in both orders with a cache, a full report."""

from __future__ import annotations

import hashlib

import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.evaluate import stage as evaluate
from selftrain_core.stages.evaluate.judge import PairwiseJudge
from selftrain_core.stages.evaluate.verdicts import parse_verdict
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline


@pytest.fixture(scope="module")
def trained(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory.mktemp("eval") / "artifacts")
    # a learning rate that moves the tiny model: its greedy answers differ from base's, so the judge is asked
    data["train"].update(learning_rate=0.01, num_epochs=2)
    cfg = build_run_config(data)
    refs, _ = run_pipeline(cfg, stop_after="train")
    return data, refs


def run_evaluate(data, refs, root, **evaluate_settings):
    """Evaluate the trained artifact into a fresh root (its parents copied there), or the same root."""
    cfg = build_run_config({**data, "evaluate": {**data["evaluate"], **evaluate_settings}})
    source = ArtifactStore(cfg.artifact_root)
    store = ArtifactStore(root) if root else source
    if root:
        for ref in refs.values():
            source.fs.get(source.dir(ref.stage, ref.key), store.dir(ref.stage, ref.key), recursive=True)
    plan = evaluate.plan(cfg, refs["train"], refs["answers"], refs["score"], refs["chunk"])
    ref = evaluate.run(cfg, plan, store, RunInfo(run_id="t"), log=lambda _: None)
    return store, ref


def test_same_inputs_and_seed_give_the_same_report_plots_and_metrics(trained, tmp_path):
    data, refs = trained
    first_store, first = run_evaluate(data, refs, str(tmp_path / "one"))
    second_store, second = run_evaluate(data, refs, str(tmp_path / "two"))
    assert first.key == second.key
    one, two = first_store.manifest("evaluate", first.key), second_store.manifest("evaluate", second.key)
    assert one["files"] == two["files"], "same bytes: tables, report.md and every plot"
    assert one["metrics"] == two["metrics"]
    assert two["judge_verdicts_asked"] == 0, "the second run's verdicts come from the cache"


def test_the_report_has_every_section_and_the_metrics_their_intervals(trained, tmp_path):
    data, refs = trained
    store, ref = run_evaluate(data, refs, str(tmp_path / "doc"), with_document=True)
    report = store.fs.cat_file(f"{store.dir('evaluate', ref.key)}/report.md").decode()
    for needle in (
        "| metric | base | trained | base+document | trained - base | trained: significant? |",
        "## Held-out documents",
        "## Training documents, new questions",
        "## Training documents, gold question",
        "retention",
        "AUROC",
        "Pairwise judge",
        "position-flip rate",
        "longer answer",
        "![Share correct per evaluation set](plots/sets.png)",
    ):
        assert needle in report, needle
    files = store.manifest("evaluate", ref.key)["files"]
    assert {"plots/sets.png", "plots/scores.png", "plots/reliability.png", "cards/trained/README.md"} <= set(files)
    assert store.fs.cat_file(f"{store.dir('evaluate', ref.key)}/plots/sets.png")[:4] == b"\x89PNG"
    metrics = {(m["set"], m["model"], m["metric"]): m for m in store.read_rows(ref, "metrics")}
    f1 = metrics[("held_out", "trained-base", "f1")]
    assert f1["ci_low"] <= f1["value"] <= f1["ci_high"] and f1["n"] == metrics[("held_out", "base", "f1")]["n"]
    rows = store.read_rows(ref)
    assert {r["model"] for r in rows} == {"base", "trained", "base+document"}
    assert {"held_out", "train_new", "gold_train", "gold_held_out"} <= {r["set"] for r in rows}
    trained_questions = {a["question"] for a in store.read_rows(refs["answers"]) if a["split"] == "train"}
    new = {r["question"] for r in rows if r["set"] in ("train_new", "gold_train")}
    assert new and not new & trained_questions, "no trained question is asked again as a new one"
    threshold = store.manifest("evaluate", ref.key)["config"]["evaluate"]["hallucination_threshold"]
    assert all(
        0.0 <= r["support"] <= 1.0 and r["hallucinated"] == float(r["support"] < threshold and not r["abstained"])
        for r in rows
    )
    verdicts = store.read_rows(ref, "judge")
    judged = {(r["set"], r["question_id"]) for r in rows if r["set"] in ("held_out", "train_new")}
    assert len(verdicts) == len(judged), "one verdict row per judged question (default judge sets)"
    assert {(v["set"], v["question_id"]) for v in verdicts} == judged and {v["arm"] for v in verdicts} == {"trained"}
    assert any(v["base_first"] != "same" for v in verdicts), "the trained model answers differently: judge asked"
    answer = {(r["set"], r["question_id"], r["model"]): r["answer"].strip() for r in rows}
    for v in verdicts:  # each stored verdict is what its raw reply says, and the outcome needs both orders to agree
        same = answer[(v["set"], v["question_id"], "base")] == answer[(v["set"], v["question_id"], "trained")]
        for order in ("base_first", "trained_first"):
            assert v[order] == ("same" if same else parse_verdict(v[f"{order}_raw"])), v
        both = (v["base_first"], v["trained_first"])
        assert v["outcome"] == {("B", "A"): "trained", ("A", "B"): "base"}.get(both, "tie"), v
    for set_name in ("held_out", "train_new"):  # the judge's shares are counted from those verdicts
        found = [v["outcome"] for v in verdicts if v["set"] == set_name]
        for metric, who in (("win", "trained"), ("loss", "base"), ("tie", "tie")):
            share = metrics[(set_name, "judge:trained", metric)]
            assert share["n"] == len(found) and share["value"] == pytest.approx(found.count(who) / len(found))
    card = store.fs.cat_file(f"{store.dir('evaluate', ref.key)}/cards/trained/README.md").decode()
    curate_key = store.manifest("train", refs["train"].key)["parents"][0]["key"]
    assert "model-index" in card and f"curate/{curate_key}" in card and f"train/{refs['train'].key}" in card
    held_out = metrics[("held_out", "trained", "correct")]
    assert f"value: {round(held_out['value'], 4)}" in card, "the card carries the metrics table's numbers"
    assert "https://github.com/)" not in card, "no placeholder links"


def first_by_hash(a: str, b: str) -> bool:
    """Whether `a` comes before `b` in the scripted judge's order: by their hashes, so which model wins does not
    depend on how the tiny model's answers happen to sort (another CPU or library version writes other ones)."""
    return hashlib.sha256(a.encode()).hexdigest() < hashlib.sha256(b.encode()).hexdigest()


def sorts_first_judge(self, prompts):
    """A stand-in for the judge model: it prefers the answer that comes first by hash, the same pick in both orders
    (the tiny random judge only ever replies gibberish or 'tie', which leaves wins and losses untested)."""
    replies = {}
    for key, messages in prompts.items():
        a, rest = messages[-1]["content"].split("\nAnswer A: ", 1)[1].split("\nAnswer B: ", 1)
        b = rest.split("\n\nWhich answer agrees better", 1)[0]
        replies[key] = "Verdict: A" if first_by_hash(a, b) else "Verdict: B"
    return replies


def test_the_judges_win_loss_and_tie_shares_are_counted_from_its_verdicts(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("SELFTRAIN_CACHE", str(tmp_path / "cache"))  # scripted replies stay out of the shared cache
    monkeypatch.setattr(PairwiseJudge, "_ask", sorts_first_judge)
    data, refs = trained
    store, ref = run_evaluate(data, refs, str(tmp_path / "scripted"))
    rows = store.read_rows(ref)
    answer = {(r["set"], r["question_id"], r["model"]): r["answer"] for r in rows}
    metrics = {(m["set"], m["model"], m["metric"]): m for m in store.read_rows(ref, "metrics")}
    verdicts = store.read_rows(ref, "judge")
    expected = {}
    for set_name, question_id in {(r["set"], r["question_id"]) for r in rows if r["set"] in ("held_out", "train_new")}:
        base, mine = answer[(set_name, question_id, "base")], answer[(set_name, question_id, "trained")]
        same = base.strip() == mine.strip()
        expected[(set_name, question_id)] = "tie" if same else ("trained" if first_by_hash(mine, base) else "base")
    assert {(v["set"], v["question_id"]): v["outcome"] for v in verdicts} == expected
    # which side wins depends on the tiny model's answers (how many differ from base): at least one is decided
    assert {"trained", "base"} & set(expected.values()), "the scripted judge decides where the answers differ"
    for set_name in ("held_out", "train_new"):
        outcomes = [o for (s, _), o in expected.items() if s == set_name]
        for metric, who in (("win", "trained"), ("loss", "base"), ("tie", "tie")):
            share = metrics[(set_name, "judge:trained", metric)]
            assert share["n"] == len(outcomes) and share["value"] == pytest.approx(outcomes.count(who) / len(outcomes))
        flips = metrics[(set_name, "judge:trained", "position_flip_rate")]["value"]
        assert flips == 0.0, "the same pick in both orders never flips"
    # judge-scorer agreement on held_out (scored questions): scorer says unknown vs the judge's win, per question
    threshold = build_run_config(data).curate.known_threshold
    s_k = {r["question_id"]: r["s_k"] for r in rows if r["set"] == "held_out" and r["model"] == "base"}
    agree = [(s_k[q] < threshold) == (o == "trained") for (s, q), o in expected.items() if s == "held_out"]
    row = metrics[("held_out", "judge:trained", "scorer_agreement")]
    assert row["n"] == len(agree) and row["value"] == pytest.approx(sum(agree) / len(agree))
    assert ("held_out", "judge:trained", "scorer_kappa") in metrics
    assert ("train_new", "judge:trained", "scorer_agreement") not in metrics, "new questions have no scores"


def test_the_reports_numbers_are_the_metrics_tables(trained, tmp_path):
    data, refs = trained
    store, ref = run_evaluate(data, refs, str(tmp_path / "numbers"), judge={"enabled": False})
    report = store.fs.cat_file(f"{store.dir('evaluate', ref.key)}/report.md").decode()
    for m in store.read_rows(ref, "metrics"):
        if m["model"] in ("base", "trained", "trained-base") and m["metric"] in ("correct", "f1", "wrong"):
            value = "n/a" if m["value"] != m["value"] else f"{m['value']:.3f}"
            if m["interval"] in ("bca", "percentile"):
                value += f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
            assert value in report, (m, value)


def test_the_judge_can_be_turned_off_and_another_judge_model_changes_the_key(trained, tmp_path, tiny_lm):
    data, refs = trained
    cfg = build_run_config(data)
    off = build_run_config({**data, "evaluate": {**data["evaluate"], "judge": {"enabled": False}}})
    keys = {evaluate.plan(c, refs["train"], refs["answers"], refs["score"], refs["chunk"]).key for c in (cfg, off)}
    assert len(keys) == 2
    store, ref = run_evaluate(data, refs, str(tmp_path / "off"), judge={"enabled": False})
    assert not any(m["model"].startswith("judge") for m in store.read_rows(ref, "metrics"))


def test_the_hallucination_check_can_use_an_nli_model(trained, tmp_path, tiny_nli):
    data, refs = trained
    data = {**data, "score": {"nli": {"name": str(tiny_nli)}}}
    store, ref = run_evaluate(data, refs, str(tmp_path / "nli"), hallucination_check="nli", judge={"enabled": False})
    manifest = store.manifest("evaluate", ref.key)
    assert "hallucination_nli" in {m["role"] for m in manifest["models"]}
    rows = store.read_rows(ref)
    assert all(0.0 <= r["support"] <= 1.0 for r in rows) and len({r["support"] for r in rows}) > 1
    report = store.fs.cat_file(f"{store.dir('evaluate', ref.key)}/report.md").decode()
    assert "entails the answer" in report
