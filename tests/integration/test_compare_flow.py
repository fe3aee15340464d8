"""The compare flow under prefect_test_harness on the tiny local models: one arm per curate strategy, trained from
the same samples, evaluated together against base, and the table names every arm with its numbers."""

import statistics

import pytest
import yaml
from prefect.utilities.callables import parameter_schema
from typer.testing import CliRunner

from flows.compare import compare
from selftrain_cli.app import app
from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError
from selftrain_core.runs.compare import ARMS, comparison_table, strategy_configs
from selftrain_core.stages.curate.strategies import STRATEGIES
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline


def test_each_strategy_is_an_arm_with_the_method_its_rows_need(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    cfg = build_run_config(tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts"))
    arms = strategy_configs(cfg)
    assert set(arms) == {s.replace("-", "_") for s in STRATEGIES} | {"no_filter"}
    assert arms["rejection_sampling"].train.method == arms["sft_references"].train.method == "sft"
    assert arms["confident_preference"].train.method == cfg.train.method == "dpo"
    assert arms["self_rewarding"].score.scorer == "self-reward" and arms["knowledge_detection"].score == cfg.score
    assert not arms["no_filter"].curate.knowledge_filter and arms["knowledge_detection"].curate.knowledge_filter
    assert arms["inner_knowledge"].answers.explicitation and not arms["knowledge_detection"].answers.explicitation
    assert arms["inner_knowledge"].train.method == "dpo"


def test_only_the_named_arms_are_made_in_their_order(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    cfg = build_run_config(tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts"))
    every = strategy_configs(cfg)
    some = strategy_configs(cfg, ["no_filter", "sft_references"])
    assert list(some) == ["sft_references", "no_filter"] and list(every) == list(ARMS)
    assert all(some[name] == every[name] for name in some), "an arm's config does not depend on the others chosen"
    assert list(strategy_configs(cfg, [])) == list(ARMS), "an empty choice (a cleared UI field) is every arm"
    with pytest.raises(ConfigError, match="compare arms: self-rewarding \\(the arms are knowledge_detection,"):
        strategy_configs(cfg, ["knowledge_detection", "self-rewarding"])


def test_the_ui_form_offers_the_arms_as_a_choice_with_help():
    schema = parameter_schema(compare).model_dump()
    arms = schema["properties"]["arms"]
    choices = next(option for option in arms["anyOf"] if option.get("type") == "array")["items"]
    assert set(choices.get("enum") or schema["definitions"][choices["$ref"].split("/")[-1]]["enum"]) == set(ARMS)
    assert "all when empty" in arms["description"]


def test_the_cli_refuses_an_unknown_arm_before_any_work(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")))
    out = CliRunner().invoke(app, ["compare", "-c", str(config), "--arm", "no_filter", "--arm", "nofilter"])
    # main() turns a ConfigError into exit 2 with its message (tests/integration/test_cli_kill_resume.py)
    assert isinstance(out.exception, ConfigError), out.output
    assert str(out.exception).startswith("compare arms: nofilter (the arms are ")
    assert not (tmp_path / "artifacts").exists()


def test_the_table_has_a_row_per_arm_with_its_paired_differences():
    metrics = [
        {"set": "held_out", "model": "a-base", "metric": "correct", "value": 0.25, "ci_low": -0.1, "ci_high": 0.5},
        {"set": "held_out", "model": "judge:a", "metric": "win", "value": 0.5, "ci_low": 0.2, "ci_high": 0.8},
    ]
    table = comparison_table(metrics, {"a": {"method": "sft", "pairs": 0, "sft_rows": 7, "seconds": 12.3}})
    row = table.splitlines()[2]
    assert row.startswith("| a | sft | 0 | 7 | 12 | +0.250 [-0.100, +0.500] |")
    assert "+0.500 [+0.200, +0.800] / - / -" in row and "judge held_out win / tie / loss" in table.splitlines()[0]


@pytest.mark.integration
def test_the_compare_flow_trains_and_evaluates_every_strategy_together(
    tiny_lm, tiny_embedder, corpus_file, tmp_path, prefect_server
):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    data["evaluate"]["judge"] = {"enabled": False}
    refs, _ = run_pipeline(build_run_config(data), stop_after="score")
    store = ArtifactStore(str(tmp_path / "artifacts"))
    # thresholds inside the observed scores, so every strategy finds rows to train on
    s_k = sorted(s["s_k"] for s in store.read_rows(refs["score"]) if s["split"] == "train")
    data["curate"] = {"answerable_threshold": 0.0, "known_threshold": statistics.median(s_k) + 1e-9}
    per_sample = sorted(v for s in store.read_rows(refs["score"]) for v in s["no_doc_scores"])
    data["curate"] |= {"accept_threshold": per_sample[len(per_sample) // 2], "contradict_threshold": per_sample[0]}
    cfg = build_run_config(data)
    result = compare(config=cfg)
    manifest = store.manifest("evaluate", result["evaluate"].key)
    assert manifest["config"]["arms"] == list(result["train"]) and len(result["train"]) >= 4
    # the tiny model's rubric grades are unreadable (all 0.5): self-rewarding has no pair, and the table says so
    assert (
        "self_rewarding" not in result["train"]
        and "| self_rewarding | dpo | 0 | 0 | 0 | nothing to train |" in (result["table"])
    )
    for arm in strategy_configs(cfg):
        assert f"| {arm} |" in result["table"], arm
    assert "held_out correct - base" in result["table"]
