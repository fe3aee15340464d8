"""Resolve a model name to local files and a fingerprint (weights hash or hub commit) for artifact keys.

The offline SmolLM2 ships as a Q4_1 GGUF. transformers can load it with `gguf_file=`, dequantized to float32,
but such a model refuses `save_pretrained`; so we rebuild the model from its config without the
`quantization_config`, load the dequantized state dict and save plain safetensors once, in the selftrain cache.
Every later load goes through the ordinary `from_pretrained(folder)` path, the same as a hub model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from selftrain_core.errors import ModelNotFoundError
from selftrain_core.hashing import cache_dir, cached_file_sha256, place_in_cache, stable_hash
from selftrain_core.models.names import OFFLINE_ALIASES, OfflineAlias, check_model_name


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # as configured
    path: str  # local folder to load from
    fingerprint: str  # content identity: weights hash or hub commit
    source: str  # "offline-alias" | "local" | "hub"
    base_hub_id: str | None = None

    def manifest_entry(self, role: str) -> dict[str, str | None]:
        return {
            "role": role,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "source": self.source,
            "hub_id": self.base_hub_id,
        }


def _package_file(alias: OfflineAlias, name: str) -> Path:
    spec = importlib.util.find_spec(alias.package)
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(f"offline model {name!r} needs its package: {alias.install}")
    path = Path(spec.origin).parent / alias.relpath
    if not path.exists():
        raise ModelNotFoundError(f"offline model {name!r}: {path} is missing; reinstall with {alias.install}")
    return path


WEIGHT_SUFFIXES = {".safetensors", ".bin", ".gguf"}
# What else changes a model's outputs: its config, generation defaults, tokenizer and chat template.
TOKENIZER_AND_CONFIG_SUFFIXES = {".json", ".jinja", ".model", ".txt"}


def folder_fingerprint(folder: Path, with_tokenizer: bool = False) -> str:
    """Hash of the weight files (safetensors or bin) in a folder, cached per file; `with_tokenizer` adds the config,
    tokenizer and chat template files, so a local model whose template changed is a new model for the keys."""
    weights = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not weights:
        raise ModelNotFoundError(f"no weight files (*.safetensors) in {folder}")
    files = weights
    if with_tokenizer:
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES | TOKENIZER_AND_CONFIG_SUFFIXES
        )
    return "sha256:" + stable_hash({p.name: cached_file_sha256(p) for p in files}, 32)


def dequantize_gguf(gguf_path: Path, target: Path) -> None:
    """Write `target` as a plain safetensors model folder from a GGUF file (once; atomic rename)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from selftrain_core.models.gguf_reading import parsed_once

    folder, filename = str(gguf_path.parent), gguf_path.name
    with parsed_once():  # one parse of the file's metadata, not four
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename)
        config = AutoConfig.from_pretrained(folder, gguf_file=filename)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings may be absent from the state dict and are restored by tie_weights().
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise RuntimeError(f"dequantized weights do not fit the config: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    model.generation_config = loaded.generation_config
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    place_in_cache(tmp, target)  # a process that finished first keeps its copy


def _resolve_alias(name: str, alias: OfflineAlias) -> ResolvedModel:
    path = _package_file(alias, name)
    if path.suffix != ".gguf":
        # a package version pins all its files: the weights name it (and keep the keys it has always had)
        return ResolvedModel(name, str(path), folder_fingerprint(path), "offline-alias", alias.hub_id)
    digest = cached_file_sha256(path)
    target = cache_dir() / "models" / f"{name}-{digest[:12]}"
    if not (target / "config.json").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        dequantize_gguf(path, target)
    return ResolvedModel(name, str(target), f"gguf-sha256:{digest}", "offline-alias", alias.hub_id)


# What a transformers model needs; skips original/*.pth, ONNX and GGUF copies that many repos also hold.
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}


def _resolve_hub(name: str, revision: str | None, kind: str = "model") -> ResolvedModel:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    offline = hub_offline()
    # Older classifier checkpoints (potsawee/deberta-v3-large-mnli) ship only pytorch_model.bin.
    patterns = HUB_FILES + ["pytorch_model.bin"] if kind == "nli" else HUB_FILES
    try:
        folder = snapshot_download(name, revision=revision, local_files_only=offline, allow_patterns=patterns)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        where = "in the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else "on the hub"
        raise ModelNotFoundError(f"model {name!r} (revision {revision or 'main'}) not found {where}: {exc}") from None
    commit = Path(folder).name  # snapshots/<commit sha>
    return ResolvedModel(name, folder, f"hf:{name}@{commit}", "hub", name)


def resolve_model(name: str, revision: str | None = None, kind: str = "model") -> ResolvedModel:
    """Name -> local folder + fingerprint. Raises ModelNotFoundError with the choices when it cannot."""
    check_model_name(name, kind)
    alias = OFFLINE_ALIASES.get(name)
    if alias is not None:
        return _resolve_alias(name, alias)
    local = Path(name).expanduser()
    if local.exists():
        folder = local if local.is_dir() else local.parent
        return ResolvedModel(name, str(folder.resolve()), folder_fingerprint(folder, with_tokenizer=True), "local")
    return _resolve_hub(name, revision, kind)


def local_config_folder(name: str, revision: str | None = None, kind: str = "model") -> Path | None:
    """Where `name`'s config.json lies on this machine without downloading anything, or None when it is a hub id
    that is not in the local Hugging Face cache. Raises ModelNotFoundError for a bad name or a missing package."""
    check_model_name(name, kind)
    alias = OFFLINE_ALIASES.get(name)
    if alias is not None:
        path = _package_file(alias, name)
        return path if path.is_dir() else path.parent
    local = Path(name).expanduser()
    if local.exists():
        return local if local.is_dir() else local.parent
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json", revision=revision)
    return Path(cached).parent if isinstance(cached, str) else None
