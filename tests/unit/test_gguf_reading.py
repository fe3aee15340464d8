"""parsed_once: within it a GGUF file is parsed once for all of transformers' reads, and nothing stays patched."""

import gguf
import numpy as np
from transformers import modeling_gguf_pytorch_utils as gguf_utils

from selftrain_core.models.gguf_reading import parsed_once


def _tiny_gguf(path):
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_context_length(32)
    writer.add_embedding_length(8)
    writer.add_feed_forward_length(16)
    writer.add_head_count(2)
    writer.add_tensor("token_embd.weight", np.ones((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_file_is_parsed_once_and_callers_get_their_own_copy_of_its_metadata(tmp_path):
    path = _tiny_gguf(tmp_path / "tiny.gguf")
    originals = (gguf.GGUFReader, gguf.get_tensor_name_map, gguf_utils.load_gguf_checkpoint)
    plain = gguf_utils.load_gguf_checkpoint(str(path))
    with parsed_once():
        assert gguf.GGUFReader(path) is gguf.GGUFReader(str(path))
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 1) is gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 1)
        first = gguf_utils.load_gguf_checkpoint(str(path), return_tensors=False)
        first["config"]["changed"] = True  # transformers pops and sets keys of what it gets
        second = gguf_utils.load_gguf_checkpoint(str(path))
    assert "changed" not in second["config"] and second["config"] == plain["config"]
    assert second["tokenizer"] == plain["tokenizer"]
    assert (gguf.GGUFReader, gguf.get_tensor_name_map, gguf_utils.load_gguf_checkpoint) == originals
    assert gguf.GGUFReader(path) is not gguf.GGUFReader(path)
