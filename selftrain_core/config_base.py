"""The pieces every config module shares: strict frozen models and the runtime marker that keeps a field out of keys."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

RUNTIME: dict[str, Any] = {"runtime": True}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
