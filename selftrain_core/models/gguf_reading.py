"""One parse of a GGUF file per dequantization.

transformers reads a GGUF file's metadata afresh for the tokenizer, twice for the model and again for the config, and
builds gguf-py's tensor name map once per module of the model. For SmolLM2-135M (a 49k-token vocabulary: ~300k
metadata fields, parsed in Python) each parse costs ~11 s and the name maps ~12 s on a 2-core EPYC: 56 s for a
dequantization whose arithmetic takes 3. Within `parsed_once()` a file is parsed once, its metadata converted once,
and a name map built once per (architecture, layers): 22 s. transformers reads the same arrays, so the written files
are byte-identical (checked on SmolLM2's: config, tokenizer, safetensors).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def parsed_once() -> Iterator[None]:
    """Memoize gguf-py's `GGUFReader` (by path and mode) and `get_tensor_name_map`, and transformers'
    `load_gguf_checkpoint` when it reads metadata only (each caller gets its own copy), while the block runs.
    transformers imports all three from their modules at each call, so replacing them there is what it sees. The
    readers are read-only memory maps: sharing one between the calls changes nothing they read."""
    import gguf

    try:  # transformers is not capped: a version without this module or function memoizes the reader alone
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        gguf_utils = None

    reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple[str, str], object] = {}

    def reader(path, mode: str = "r"):
        key = (str(path), mode)
        if key not in readers:
            readers[key] = reader_class(path, mode)
        return readers[key]

    checkpoint = getattr(gguf_utils, "load_gguf_checkpoint", None)
    metadata: dict[str, dict] = {}

    def load_checkpoint(path, return_tensors=False, model_to_load=None, **kwargs):
        if return_tensors or model_to_load is not None or kwargs:
            return checkpoint(path, return_tensors, model_to_load, **kwargs)
        if str(path) not in metadata:
            metadata[str(path)] = checkpoint(path)
        return copy.deepcopy(metadata[str(path)])  # callers change what they get

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, functools.lru_cache(maxsize=None)(name_map)
    if checkpoint is not None:
        gguf_utils.load_gguf_checkpoint = load_checkpoint
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader_class, name_map
        if checkpoint is not None:
            gguf_utils.load_gguf_checkpoint = checkpoint
