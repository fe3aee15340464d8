"""The pieces every config module shares: strict frozen models and the runtime marker that keeps a field out of keys.

No float setting may be NaN or infinite: a NaN threshold compares false with every score, so it would silently
decide every row one way (and inf slips past a lone lower bound)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

RUNTIME: dict[str, Any] = {"runtime": True}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def result_settings(value: Any) -> Any:
    """The JSON-able settings of a config that change results (runtime fields dropped), for artifact keys."""
    if isinstance(value, BaseModel):
        out = {}
        for name, field in type(value).model_fields.items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            if not extra.get("runtime"):
                out[name] = result_settings(getattr(value, name))
        return out
    if isinstance(value, list | tuple):
        return [result_settings(v) for v in value]
    if isinstance(value, dict):
        return {k: result_settings(v) for k, v in value.items()}
    return value


def adapter_folder(path: str) -> str:
    """The absolute path of a LoRA adapter folder; ValueError (pydantic names the field) when it is not one."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(f"checkpoint folder {path!r} does not exist")
    if not (folder / "adapter_config.json").is_file():
        raise ValueError(f"{path!r} is not a LoRA adapter folder (no adapter_config.json)")
    return str(folder.resolve())
