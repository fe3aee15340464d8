"""Fuzz: random overrides of real and made-up config fields never give a traceback. Each either validates or fails
with a ConfigError naming the field it was given (or its section, for a rule across fields)."""

from __future__ import annotations

import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from selftrain_core.config import RunConfig
from selftrain_core.config.loading import load_run_config
from selftrain_core.errors import ConfigError


def leaf_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted field of the config, sections walked (a union of source kinds counts as a leaf)."""
    paths = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            paths += leaf_paths(kind, f"{prefix}{name}.")
        else:
            paths.append(f"{prefix}{name}")
    return paths


PATHS = leaf_paths(RunConfig)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), max_size=2),
)
PATH = st.one_of(
    st.sampled_from(PATHS),
    st.builds(
        lambda p, junk: f"{p.rsplit('.', 1)[0]}.{junk}",
        st.sampled_from(PATHS),
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    ),
)


def as_yaml(value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ".nan"
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


def test_the_walk_finds_the_fields_users_set():
    assert {"curate.known_threshold", "answers.server", "evaluate.judge.model", "train.learning_rate"} <= set(PATHS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=PATH, value=VALUES)
def test_any_override_validates_or_names_the_field(path, value):
    try:
        cfg = load_run_config("offline-cpu", [f"{path}={as_yaml(value)}"])
    except ConfigError as exc:
        section = path.split(".")[0]
        assert section in str(exc) or path in str(exc), f"{path}={value!r}: {exc}"
        return
    assert isinstance(cfg, RunConfig)
    assert all(math.isfinite(v) for v in floats(cfg.model_dump())), "a valid config holds no NaN or inf"


def floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from floats(v)
