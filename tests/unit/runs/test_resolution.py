"""Preflight resolves every model, prompt and chat template a run names before the first artifact; each error names
the setting (issue: mistakes found after work was done)."""

from __future__ import annotations

import json
import shutil

import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError, ModelNotFoundError
from selftrain_core.runs.resolution import check_names_resolve
from tests.conftest import tiny_config_data


@pytest.fixture
def data(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    return tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")


def with_section(data: dict, section: str, **values) -> dict:
    return {**data, section: {**data.get(section, {}), **values}}


def test_a_tiny_run_resolves(data):
    check_names_resolve(build_run_config(data))


@pytest.mark.parametrize(
    ("section", "values", "setting"),
    [
        ("model", {"name": "tiny-org/typo"}, r"model\.name"),
        ("questions", {"model": "tiny-org/typo"}, r"questions\.model"),
        ("evaluate", {"judge": {"enabled": True, "model": "tiny-org/typo"}}, r"evaluate\.judge\.model"),
        ("embedder", {"name": "tiny-org/typo"}, r"embedder\.name"),
    ],
    ids=["policy", "question_writer", "judge", "embedder"],
)
def test_a_hub_id_that_is_not_here_is_named_before_any_work(data, section, values, setting):
    cfg = build_run_config(with_section(data, section, **values))
    with pytest.raises(ModelNotFoundError, match=setting + r".*tiny-org/typo"):
        check_names_resolve(cfg)


def test_a_prompt_asking_for_a_value_its_stage_does_not_give_is_named(data):
    cfg = build_run_config(with_section(data, "answers", without_document_prompt="answer_with_document"))
    with pytest.raises(ConfigError, match=r"answers\.without_document_prompt='answer_with_document'.*does not give"):
        check_names_resolve(cfg)


def test_an_unknown_prompt_is_named(data):
    cfg = build_run_config(data)
    cfg = cfg.model_copy(update={"questions": cfg.questions.model_copy(update={"prompt": "no_such_prompt"})})
    with pytest.raises(ConfigError, match=r"questions\.prompt: unknown prompt 'no_such_prompt'"):
        check_names_resolve(cfg)


def test_a_base_model_without_a_chat_template_is_refused(data, tiny_lm, tmp_path):
    plain = shutil.copytree(tiny_lm, tmp_path / "plain")
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((plain / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    cfg = build_run_config(with_section(data, "model", name=str(plain)))
    with pytest.raises(ConfigError, match=r"model\.name=.*plain: the model has no chat template"):
        check_names_resolve(cfg)


def test_adapters_and_scorer_prompts_are_checked_at_preflight_not_when_the_config_loads(data, tmp_path):
    missing = str(tmp_path / "no-adapter")
    cfg = build_run_config(with_section(data, "model", adapter=missing))  # loading reads no disk
    assert cfg.model.adapter == missing
    with pytest.raises(ConfigError, match=r"model\.adapter: checkpoint folder .*no-adapter' does not exist"):
        check_names_resolve(cfg)
    cfg = build_run_config(with_section(data, "score", reflection_prompt="no_such_prompt"))
    with pytest.raises(ConfigError, match=r"score\.reflection_prompt: unknown prompt 'no_such_prompt'"):
        check_names_resolve(cfg)
