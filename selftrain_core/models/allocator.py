"""Keep freed memory in the process for the next tensor, where the C library is glibc.

PyTorch's CPU allocator takes each tensor from malloc. glibc serves a request above its mmap threshold (128 KiB at
first, moving up as such blocks are freed) with a fresh mapping and unmaps it when the tensor is freed, so the next
tensor of that size pays a page fault for every 4 KiB page it writes. A forward of SmolLM2-135M makes and frees many
such tensors (a prefill's activations, a decode step's hidden states): on a 2-core Xeon the offline default's whole
run was 1.04-1.05x faster with large blocks kept, its answers stage 1.07x and train 1.09x (bench/results/allocator.md).

`keep_freed_memory()` sets, through mallopt, glibc's mmap threshold to its largest value (32 MiB on 64-bit) and its
trim threshold to 2 GiB, so tensors under 32 MiB come from the heap and freed memory stays there for reuse. What is
computed does not change (whole runs' artifacts came out byte-identical); the process may keep more memory (peak RSS
+0.7 GB in one of two paired runs, -0.03 in the other). Left alone: a C library other than glibc (macOS, musl),
a process whose malloc the user tuned already (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_,
GLIBC_TUNABLES, or another allocator in LD_PRELOAD), and SELFTRAIN_MALLOC_TUNING=0.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes a C int: 2 GiB
SWITCH = "SELFTRAIN_MALLOC_TUNING"
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES", "LD_PRELOAD")


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as above (idempotent; cheap enough to call at every model load). Returns whether it did."""
    if os.environ.get(SWITCH, "1") == "0" or any(os.environ.get(name) for name in USER_SETTINGS):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
