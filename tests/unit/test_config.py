from importlib import resources

import pytest

from selftrain_core.config import RunConfig
from selftrain_core.config_base import result_settings
from selftrain_core.config_loading import load_run_config, preset_names
from selftrain_core.errors import ConfigError


@pytest.mark.parametrize("preset", preset_names())
def test_every_shipped_preset_loads(preset):
    cfg = load_run_config(preset)
    assert isinstance(cfg, RunConfig)
    text = (resources.files("selftrain_core") / "presets" / f"{preset}.yaml").read_text()
    first = text.splitlines()[0]
    assert first.startswith("# selftrain ") and f"--config {preset}" in first, "its first line is the command"


def test_default_is_the_offline_cpu_preset():
    cfg = load_run_config()
    assert cfg.name == "offline-cpu"
    assert cfg.model.name == "smollm2-135m-instruct"
    assert cfg.ingest.source.kind == "wiki-vital"
    assert cfg.answers.num_samples == 5


def test_dotted_overrides_parse_values():
    cfg = load_run_config(None, ["answers.num_samples=3", "curate.known_threshold=0.5", "train.merge=true"])
    assert cfg.answers.num_samples == 3
    assert cfg.curate.known_threshold == 0.5
    assert cfg.train.merge is True


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("answers.num_samples=0", "answers.num_samples"),
        ("answers.nope=1", "answers.nope"),
        ("model.name=smollm3", "model.name"),
        ("ingest.test_fraction=1.5", "ingest.test_fraction"),
        ("chunk.overlap_tokens=400", "chunk"),
    ],
)
def test_bad_config_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_run_config(None, [override])


def test_unknown_model_name_suggests_the_alias():
    with pytest.raises(ConfigError, match="smollm2-135m-instruct"):
        load_run_config(None, ["model.name=smollm2-135m"])


def test_bad_override_syntax_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="section.field=value"):
        load_run_config(None, ["answers.num_samples"])
    with pytest.raises(ConfigError, match="not found"):
        load_run_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_run_config(bad)


def test_runtime_fields_stay_out_of_result_settings():
    a = load_run_config(None, ["answers.batch_size=2", "answers.shard_size=3", "artifact_root=/elsewhere"])
    b = load_run_config()
    assert result_settings(a) == result_settings(b)
    c = load_run_config(None, ["answers.temperature=0.7"])
    assert result_settings(c) != result_settings(b)


def test_the_code_defaults_are_the_offline_preset_so_the_ui_form_runs_what_make_run_runs():
    from selftrain_core.config import RunConfig
    from selftrain_core.config_loading import load_run_config

    assert RunConfig() == load_run_config("offline-cpu", [])
