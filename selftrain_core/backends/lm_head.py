"""The output layer (LM head) computed in vocabulary blocks during a CPU decode.

A decode step multiplies a few dozen hidden states by the 49k x 576 output matrix of SmolLM2 (113 MB in float32).
On the 2-core AVX2 machines of these sessions one matmul over the whole vocabulary runs at 10 to 48 GFLOP/s for
8 to 96 rows, and the same product in blocks of 512 vocabulary entries (each block's weights stay in cache while
all rows use them) takes 17 to 20 ms less a step (44 -> 25 ms at 8 rows, 111 -> 92 ms at 96; `bench/lm_head.py`).
Each logit is the same dot product over the hidden size either way (no reduction is split), and the blocked
logits were bit-equal to the plain ones at every row count tried here; the tests assert what holds everywhere.

`blocked_output(model)` patches the output layer's `forward` on the instance for the length of a decode and
restores it after, only where it pays and is safe: a plain `torch.nn.Linear` without bias (not a PEFT/LoRA wrapper,
not a quantized layer, no hook of its own on `forward`), on the CPU. Nested or concurrent decodes of one model patch
it once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

BLOCK = 512  # vocabulary entries a block: 512 and 1024 were fastest from 8 to 200 rows (bench/lm_head.py)

_lock = threading.Lock()
_users: dict[int, int] = {}  # id(layer) -> decodes using its patch


def blocked_linear(hidden: torch.Tensor, weight: torch.Tensor, block: int | None = None) -> torch.Tensor:
    """`F.linear(hidden, weight)` (no bias), computed block by block of `weight`'s rows (BLOCK rows by default)."""
    block = block or BLOCK
    if weight.shape[0] <= block or hidden.numel() <= hidden.shape[-1]:  # one row: no gain (bench/lm_head.py)
        return F.linear(hidden, weight)
    return torch.cat([F.linear(hidden, part) for part in weight.split(block)], dim=-1)


def _patchable(layer) -> bool:
    return type(layer) is torch.nn.Linear and layer.bias is None and layer.weight.device.type == "cpu"


@contextmanager
def blocked_output(model) -> Iterator[None]:
    """Within the block, the model's output layer computes its logits in vocabulary blocks (see the module's doc);
    a model whose output layer is of another kind is left as it is."""
    getter = getattr(model, "get_output_embeddings", None)
    layer = getter() if callable(getter) else None
    if layer is None or not _patchable(layer):
        yield
        return
    key = id(layer)
    with _lock:
        # a forward set on the instance by someone else (accelerate's device hooks) is left alone
        ours = _users.get(key, 0) > 0 or "forward" not in vars(layer)
        if ours:
            if _users.get(key, 0) == 0:
                layer.forward = lambda hidden: blocked_linear(hidden, layer.weight)
            _users[key] = _users.get(key, 0) + 1
    if not ours:
        yield
        return
    try:
        yield
    finally:
        with _lock:
            _users[key] -= 1
            if _users[key] == 0:
                del _users[key]
                del layer.forward  # the class's forward again
