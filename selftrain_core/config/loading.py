"""Load a RunConfig from a YAML preset or file plus dotted overrides (`answers.num_samples=3`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError

DEFAULT_PRESET = "offline-cpu"


def preset_names() -> list[str]:
    folder = resources.files("selftrain_core") / "presets"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_config_source(source: str | Path | None) -> dict[str, Any]:
    """A preset name (offline-cpu) or a YAML file path -> a plain dict."""
    source = DEFAULT_PRESET if source is None else source
    path = Path(source)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text = path.read_text(encoding="utf-8")
    else:
        name = str(source)
        if name not in preset_names():
            raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}, or a YAML path")
        text = (resources.files("selftrain_core") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {source} must be a mapping of settings, got {type(data).__name__}")
    return data


def apply_override(data: dict[str, Any], override: str) -> None:
    """Set `a.b.c=value` in nested dict `data`; the value is parsed as YAML (numbers, lists, booleans)."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like section.field=value")
    dotted, raw = override.split("=", 1)
    parts = [p for p in dotted.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {override!r} names no field")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(config)"
        lines.append(f"  {where}: {err['msg']}")
    return "invalid config:\n" + "\n".join(lines)


def build_run_config(data: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def load_run_config(source: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a preset or YAML file, apply dotted overrides, validate. Fails before any work, naming the field."""
    data = read_config_source(source)
    for override in overrides or []:
        apply_override(data, override)
    return build_run_config(data)
