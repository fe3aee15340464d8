"""The pieces every config module shares: strict frozen models and the runtime marker that keeps a field out of keys.

No float setting may be NaN or infinite: a NaN threshold compares false with every score, so it would silently
decide every row one way (and inf slips past a lone lower bound)."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.fields import FieldInfo

RUNTIME: dict[str, Any] = {"runtime": True}
# Set by the flow for each round (the iteration, the adapter it continues) or a label (the config's name): not part
# of a run's signature (config/signature.py), so every round of a run, and a renamed copy, has the run's signature.
NOT_SIGNED: dict[str, Any] = {"not_signed": True}
# Names a model or adapter whose files' fingerprint enters the stage's key (the name or path itself need not).
FINGERPRINTED: dict[str, Any] = {"fingerprinted": True}
# A setting added after users had caches: it enters a key only when set away from its default, so adding it
# recomputed nothing (the pinned keys test holds this).
KEYED_WHEN_SET: dict[str, Any] = {"keyed_when_set": True}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def marked(field: FieldInfo, mark: str) -> bool:
    """Whether a field carries a marker (RUNTIME, NOT_SIGNED) in its json_schema_extra."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return bool(extra.get(mark))


def result_settings(value: Any, without: tuple[str, ...] = ("runtime",), unset_without: tuple[str, ...] = ()) -> Any:
    """The JSON-able settings of a config that change results, for artifact keys: fields carrying any of the marks
    in `without` (by default the runtime ones) are left out, and so are unset (None) fields carrying a mark in
    `unset_without`. Which fields a key leaves out is said by marks on the fields, never by deleting names."""
    if isinstance(value, BaseModel):
        out = {}
        for name, field in type(value).model_fields.items():
            item = getattr(value, name)
            if any(marked(field, mark) for mark in without):
                continue
            if item is None and any(marked(field, mark) for mark in unset_without):
                continue
            if marked(field, "keyed_when_set") and item == field.get_default(call_default_factory=True):
                continue
            out[name] = result_settings(item, without)
        return out
    if isinstance(value, list | tuple):
        return [result_settings(v, without) for v in value]
    if isinstance(value, dict):
        return {k: result_settings(v, without) for k, v in value.items()}
    return value


def runtime_settings(section: BaseModel) -> dict[str, Any]:
    """A section's own runtime fields (batch and shard sizes, devices, trackers) for a manifest's runtime_config;
    derived from the RUNTIME marks, so a new runtime field is recorded without writing its name again. Runtime
    subsections (a server, a vLLM engine) have their own view (backends/served.py redacts a server's URL)."""
    return {
        name: value
        for name, field in type(section).model_fields.items()
        if marked(field, "runtime") and not isinstance(value := getattr(section, name), BaseModel)
    }


def absolute_path(path: str) -> str:
    """A path setting made absolute (tasks may run in another working directory); whether it exists is preflight's
    question (runs/resolution.py), so loading a config never reads a disk."""
    return os.path.abspath(os.path.expanduser(path))
