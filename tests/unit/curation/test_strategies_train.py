"""Each strategy's data trains: curate rows made by the strategy on hand-made scores, written with the curate
stage's own schemas, then one epoch of the method that reads them (SFT for SFT-only strategies, DPO for pairs)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import StageInputError
from selftrain_core.stages.base import RunInfo, make_plan
from selftrain_core.stages.curate.stage import PAIR_SCHEMA, REJECTED_SCHEMA, SFT_SCHEMA, curate_rows
from selftrain_core.stages.train import stage as train
from selftrain_core.store import ArtifactStore, ArtifactWriter
from tests.conftest import tiny_config_data
from tests.unit.curation.test_strategies import EXPLICIT, SAMPLES, SCORES, SUPPORT, answer, score


@pytest.mark.parametrize(
    ("strategy", "method", "table"),
    [
        ("rejection-sampling", "sft", "sft"),
        ("confident-preference", "dpo", "data"),
        ("self-rewarding", "dpo", "data"),
        ("inner-knowledge", "dpo", "data"),
        ("inner-knowledge", "sft", "sft"),
        ("sft-references", "sft", "sft"),
    ],
)
def test_a_strategys_rows_train_the_tiny_model(strategy, method, table, tiny_lm, tiny_embedder, corpus_file, tmp_path):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    if strategy == "inner-knowledge":  # its prompt is 154 tiny-tokenizer tokens
        data["train"] = {**data["train"], "max_length": 320}
    data["curate"] = {"strategy": strategy, "samples_per_question": 2}
    if strategy == "self-rewarding":
        data["score"] = {**data.get("score", {}), "scorer": "self-reward"}
    if strategy == "inner-knowledge":
        data["answers"] = {**data["answers"], "explicitation": True}
    data["train"] = {**data["train"], "method": method}
    cfg = build_run_config(data)
    store = ArtifactStore(cfg.artifact_root)
    tables: dict[str, list[dict]] = {"data": [], "sft": [], "rejected": [], "rejected_samples": []}
    for i in range(3):  # three questions, each with the hand-made samples in another order
        order = SAMPLES[i:] + SAMPLES[:i]
        scores = SCORES[i:] + SCORES[:i]
        explicit, support = EXPLICIT[i:] + EXPLICIT[:i], SUPPORT[i:] + SUPPORT[:i]
        hand_made = {**score(scores=scores, support=support), "score_id": f"s{i}", "question_id": f"q{i}"}
        hand_made["explicit_scores"] = [0.9] * len(explicit)  # every answer agrees: support decides
        rows = curate_rows(cfg, "k", hand_made, answer(order, explicit=explicit))
        for name, part in rows.items():
            tables[name].extend(part)
    assert tables[table], f"{strategy} made {table} rows"
    writer = ArtifactWriter(store, "curate", make_plan("curate", 0, {"strategy": strategy}).key)
    for name, schema in (("data", PAIR_SCHEMA), ("sft", SFT_SCHEMA), ("rejected", REJECTED_SCHEMA)):
        writer.write_table(name, pa.Table.from_pylist(tables[name], schema=schema))
    curated = writer.commit({"drops": {}})
    if strategy == "inner-knowledge":
        short = build_run_config({**data, "train": {**data["train"], "max_length": 128}})
        with pytest.raises(StageInputError, match=r"prompt is 1\d\d tokens or more, at or over train.max_length=128"):
            train.run(short, train.plan(short, curated), store, RunInfo(run_id="t"), log=lambda _: None)

    ref = train.run(cfg, train.plan(cfg, curated), store, RunInfo(run_id="t"), log=lambda _: None)
    manifest = store.manifest("train", ref.key)
    assert store.fs.exists(f"{store.dir('train', ref.key)}/adapter/adapter_model.safetensors")
    assert manifest["pairs" if table == "data" else "sft_rows"] == len(tables[table]), "every row was read"
