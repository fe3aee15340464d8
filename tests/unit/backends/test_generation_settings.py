"""GenerationSettings: one object per generating step, built from its config section, checked once."""

from __future__ import annotations

import dataclasses

import pytest

from selftrain_core.backends.config import OpenAIServerConfig
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError

SERVER = {"base_url": "http://gpu-1:8000/v1", "model": "served-policy"}


def test_each_section_builds_its_settings_from_the_config():
    cfg = RunConfig.model_validate(
        {
            "model": {"name": "org/policy", "revision": "r1", "dtype": "bfloat16"},
            "questions": {"model": "org/writer", "revision": "w2", "batch_size": 3},
            "answers": {"batch_size": 5},
            "evaluate": {"batch_size": 7, "judge": {"model": "org/judge"}},
        }
    )
    questions = GenerationSettings.for_questions(cfg)
    assert (questions.model, questions.revision, questions.batch_size) == ("org/writer", "w2", 3)
    answers = GenerationSettings.for_answers(cfg)
    assert (answers.section, answers.model, answers.revision, answers.batch_size) == ("answers", "org/policy", "r1", 5)
    assert answers.dtype == "bfloat16"
    assert GenerationSettings.for_evaluate(cfg).batch_size == 7
    judge = GenerationSettings.for_judge(cfg)
    assert (judge.section, judge.model) == ("evaluate.judge", "org/judge")


def test_the_question_writer_defaults_to_the_policy_and_a_server_to_its_own_model():
    cfg = RunConfig.model_validate({"model": {"name": "org/policy", "revision": "r1"}})
    assert (GenerationSettings.for_questions(cfg).model, GenerationSettings.for_questions(cfg).revision) == (
        "org/policy",
        "r1",
    )
    served = RunConfig.model_validate({"answers": {"backend": "openai", "server": SERVER}})
    settings = GenerationSettings.for_answers(served)
    assert settings.model is None and settings.server.model == "served-policy"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"backend": "openai", "server": OpenAIServerConfig(**SERVER), "adapter": "/a"}, "adapter"),
        ({"backend": "hf", "model": "org/m", "server": OpenAIServerConfig(**SERVER)}, "server"),
        ({"backend": "openai"}, "server"),
        ({"backend": "hf"}, "needs a model"),
        ({"backend": "hf", "model": "org/m", "batch_size": 0}, r"answers\.batch_size is 0"),
    ],
    ids=["adapter-on-a-server", "server-without-openai", "openai-without-server", "no-model", "batch-size"],
)
def test_inconsistent_settings_are_refused_naming_the_section(fields, message):
    with pytest.raises(ConfigError, match=message) as error:
        GenerationSettings(section="answers", **fields)
    assert "answers" in str(error.value)


def test_settings_are_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        GenerationSettings("answers", "hf")  # type: ignore[misc]
    settings = GenerationSettings(section="answers", backend="hf", model="org/m")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.batch_size = 2  # type: ignore[misc]
