"""glibc's malloc keeps freed tensors' memory for reuse once a model is loaded, unless the user tuned malloc or
switched it off; elsewhere nothing is touched."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from selftrain_core.models import allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# In a fresh process: malloc 4 MiB (over glibc's initial mmap threshold of 128 KiB) and print how many more bytes
# malloc holds in mmapped blocks (mallinfo2's hblkhd) while the block is alive.
MAPPED_BYTES = """
import ctypes, sys
from selftrain_core.models.allocator import keep_freed_memory
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
tuned = keep_freed_memory()
before = libc.mallinfo2().hblkhd
block = libc.malloc(4 << 20)
print(int(tuned), libc.mallinfo2().hblkhd - before)
"""


def _clean_env(monkeypatch) -> None:
    for name in (allocator.SWITCH, *allocator.USER_SETTINGS):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_after_tuning_a_4_mib_block_comes_from_the_heap_not_a_fresh_mapping(monkeypatch):
    _clean_env(monkeypatch)

    def mapped(**env: str) -> tuple[int, int]:
        out = subprocess.run(
            [sys.executable, "-c", MAPPED_BYTES], env={**os.environ, **env}, capture_output=True, text=True, check=True
        ).stdout.split()
        return int(out[0]), int(out[1])

    untuned_flag, untuned_bytes = mapped(**{allocator.SWITCH: "0"})
    tuned_flag, tuned_bytes = mapped()
    assert (untuned_flag, tuned_flag) == (0, 1)
    assert untuned_bytes >= 4 << 20, "glibc's default maps a 4 MiB block by itself"
    assert tuned_bytes == 0, "tuned, the block comes from the heap"


class _FakeLibc:
    def __init__(self):
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return 1


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_it_sets_the_largest_mmap_threshold_and_a_high_trim_threshold(monkeypatch):
    _clean_env(monkeypatch)
    libc = _FakeLibc()
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: libc)
    assert allocator.keep_freed_memory()
    assert libc.calls == [(-3, 32 * 1024 * 1024), (-1, 2**31 - 1)]


@pytest.mark.parametrize("setting", [allocator.SWITCH, *allocator.USER_SETTINGS])
def test_a_user_setting_or_the_switch_leaves_malloc_alone(setting, monkeypatch):
    _clean_env(monkeypatch)
    libc = _FakeLibc()
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setenv(setting, "0" if setting == allocator.SWITCH else "/usr/lib/libjemalloc.so.2")
    assert not allocator.keep_freed_memory()
    assert libc.calls == []


def test_another_c_library_is_left_alone(monkeypatch):
    _clean_env(monkeypatch)
    libc = _FakeLibc()
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(allocator.platform, "system", lambda: "Darwin")
    assert not allocator.keep_freed_memory()
    assert libc.calls == []
