"""Publishing to the Hugging Face Hub (opt-in): where a trained checkpoint and its curated dataset are pushed.

Nothing is pushed unless a repo id is set. Every field is runtime: publishing changes no artifact, so no key or run
signature depends on it. The token itself is never in a config: only the name of the environment variable or the
Prefect Secret block that holds it (read when pushing; never stored, logged or written to an artifact).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from selftrain_core.config.base import RUNTIME, StrictModel

# The hub's rule (huggingface_hub.utils.validate_repo_id), plus a namespace: upload URLs need `namespace/name`.
_PART = r"(?!.*(--|\.\.))\w(?:[\w.-]{0,94}\w)?"
REPO_ID = re.compile(rf"{_PART}/{_PART}")


def check_repo_id(repo_id: str | None) -> str | None:
    """`namespace/name` of letters, digits, '-', '_' and '.' (no '--' or '..', no '-' or '.' at either end)."""
    if repo_id is not None and not (REPO_ID.fullmatch(repo_id) and len(repo_id) <= 96):
        raise ValueError(
            f"{repo_id!r} is not a hub repo id: use 'namespace/name' (your user or organization, then the repo "
            "name) with letters, digits, '-', '_' or '.', at most 96 characters"
        )
    return repo_id


class PublishConfig(StrictModel):
    model_repo_id: str | None = Field(
        None,
        description="Hub model repo (namespace/name) to push the trained checkpoint to; unset: the model is not "
        "pushed.",
        json_schema_extra=RUNTIME,
    )
    model_what: Literal["adapter", "merged"] = Field(
        "adapter",
        description="adapter: the LoRA adapter folder. merged: the adapter merged into the base weights (the train "
        "artifact's merged/ when it has one, else merged when pushing). A full fine-tune pushes its weights.",
        json_schema_extra=RUNTIME,
    )
    dataset_repo_id: str | None = Field(
        None,
        description="Hub dataset repo (namespace/name) to push the curated data the checkpoint was trained on "
        "(dpo and sft splits, with its dataset card); unset: the dataset is not pushed.",
        json_schema_extra=RUNTIME,
    )
    private: bool = Field(
        True,
        description="Create missing repos as private (an existing repo keeps its visibility).",
        json_schema_extra=RUNTIME,
    )
    revision: str | None = Field(
        None,
        description="Branch to commit to (created from main when missing); unset: main.",
        json_schema_extra=RUNTIME,
    )
    token_env: str = Field(
        "HF_TOKEN",
        description="Environment variable holding a hub token with write access (read when pushing; never stored).",
        json_schema_extra=RUNTIME,
    )
    token_secret: str | None = Field(
        None,
        description="Name of a Prefect Secret block holding the hub token (read in the flow run; never stored). "
        "Set: used instead of token_env.",
        json_schema_extra=RUNTIME,
    )
    endpoint: str | None = Field(
        None,
        description="Hub URL, e.g. a private hub; unset: HF_ENDPOINT, else https://huggingface.co.",
        json_schema_extra=RUNTIME,
    )

    @field_validator("model_repo_id", "dataset_repo_id")
    @classmethod
    def _repo_id(cls, repo_id: str | None) -> str | None:
        return check_repo_id(repo_id)

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL (e.g. https://huggingface.co)")
        return None if url is None else url.rstrip("/")
