from importlib import resources

import pytest

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.config.loading import load_run_config, preset_names
from selftrain_core.errors import ConfigError, ModelNotFoundError
from selftrain_core.runs.resolution import check_names_resolve


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
        ("ingest.test_fraction=1.5", "ingest.test_fraction"),
        ("chunk.overlap_tokens=400", "chunk"),
    ],
)
def test_bad_config_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_run_config(None, [override])


@pytest.mark.parametrize(
    "field",
    [
        "curate.answerable_threshold",
        "curate.known_threshold",
        "curate.min_score_gap",
        "evaluate.hallucination_threshold",
        "evaluate.gold_threshold",
        "evaluate.correct_f1",
        "evaluate.dedupe_cosine",
        "score.same_meaning_threshold",
        "score.bsdetector_beta",
        "questions.near_duplicate_jaccard",
        "questions.top_p",
        "answers.top_p",
        "ingest.test_fraction",
    ],
)
@pytest.mark.parametrize("value", ["-0.1", "1.5", ".nan", ".inf", "-.inf"])
def test_thresholds_and_shares_refuse_values_outside_their_range_and_nan(field, value):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_run_config(None, [f"{field}={value}"])


@pytest.mark.parametrize("value", ["-1.5", "1.5", ".nan", ".inf"])
def test_the_gate_margin_is_a_difference_of_shares(value):
    with pytest.raises(ConfigError, match=r"rounds\.gate_margin"):
        load_run_config(None, [f"rounds.gate_margin={value}"])


def test_thresholds_accept_their_bounds():
    cfg = load_run_config(None, ["curate.answerable_threshold=0", "curate.known_threshold=1", "rounds.gate_margin=-1"])
    assert (cfg.curate.answerable_threshold, cfg.curate.known_threshold, cfg.rounds.gate_margin) == (0.0, 1.0, -1.0)


@pytest.mark.parametrize(
    "field",
    [
        "questions.temperature",
        "answers.temperature",
        "train.beta",
        "train.learning_rate",
        "train.num_epochs",
        "curate.max_length_ratio",
        "evaluate.confidence",
        "answers.server.timeout_s",
    ],
)
@pytest.mark.parametrize("value", [".nan", ".inf"])
def test_no_float_setting_takes_nan_or_infinity(field, value):
    overrides = [f"{field}={value}"]
    if field.startswith("answers.server"):
        overrides += ["answers.backend=openai", "answers.server.model=m"]
    with pytest.raises(ConfigError, match=field.replace(".", r"\.") + ": Input should be a finite number"):
        load_run_config(None, overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["questions.min_words=10", "questions.max_words=5"], r"questions\.min_words must be at most"),
        (["chunk.min_tokens=300", "chunk.max_tokens=256"], r"chunk\.min_tokens must be at most"),
    ],
)
def test_a_lower_limit_above_its_upper_limit_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(None, overrides)
    low, high = (o.split("=")[0] for o in overrides)
    load_run_config(None, [f"{low}=40", f"{high}=40"])  # equal limits are fine


def test_unknown_model_name_suggests_the_alias_at_preflight_not_at_loading():
    cfg = load_run_config(None, ["model.name=smollm2-135m"])  # loading a config reads no disk
    with pytest.raises(ModelNotFoundError, match=r"model\.name: .*smollm2-135m-instruct"):
        check_names_resolve(cfg)


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
    from selftrain_core.config.loading import load_run_config

    assert RunConfig() == load_run_config("offline-cpu", [])
