"""Score only the completion tokens when TRL's fused LM head computes log-probabilities on a CPU.

TRL (1.16) computes a model's per-token log-probabilities through a chunked LM head (`trl.kernels.chunked_logprob`,
installed by `add_fused_lm_head`). On a device with Triton it projects only the positions that have a label; on any
other device it projects every position, prompt tokens included, so that the number of labelled positions does not
change the tiles' shapes (a recompilation concern on compiled devices such as Neuron). A CPU compiles nothing, and
the projection onto the 49,152-token vocabulary and its backward are most of a DPO step there. Measured with
`bench/dpo_step.py` (4 pairs, 276 of 776 positions labelled): a DPO step 4.8 s scoring every position, 2.7 s
scoring the labelled ones, with the same log-probabilities, entropies, mean logits and top-1 flags.

`completion_scoring_on_cpu()` makes TRL's choice ("only the labelled positions") hold on a CPU too, for as long as
it is entered, and restores TRL's own function after, even on error. TRL reads that choice from
`trl.trainer.utils._use_triton` at call time; a TRL without that name is left as it is (it scores as it chooses).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

CHOICE = "_use_triton"  # the function trl.trainer.utils asks whether to score only the labelled positions


@contextlib.contextmanager
def completion_scoring_on_cpu() -> Iterator[bool]:
    """While entered, TRL's fused LM head scores only labelled positions on a CPU; yields whether it could be set."""
    from trl.trainer import utils

    original = getattr(utils, CHOICE, None)
    if original is None:
        yield False
        return

    def labelled_only(device) -> bool:
        return device.type == "cpu" or original(device)

    setattr(utils, CHOICE, labelled_only)
    try:
        yield True
    finally:
        setattr(utils, CHOICE, original)
