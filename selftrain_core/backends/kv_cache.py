"""A KV cache that a decode step writes into in place, instead of copying the whole cache to append one position.

transformers' DynamicLayer appends with `torch.cat`, so every decode step copies every layer's keys and values: with
120 rows and a 150-token prompt that is ~0.8 GB a step for SmolLM2-135M, a quarter of the step's time on a 2-core
CPU (bench/roofline.py). `preallocate` swaps each dynamic layer of a prefilled cache for a `RoomyLayer` whose keys
and values live in a buffer with room for the whole decode (prefill.py lays such buffers out itself); the layer
exposes views of its filled part, so the attention sees the same tensors (values, shapes) as before. Dropping
finished rows moves only the rows that fill their places (`compaction`); repeating rows copies the whole reserved
buffer. The layer serves an append-only decode loop: it cannot be cropped or offloaded, and `reset` empties it.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicLayer


class RoomyLayer(DynamicLayer):
    is_croppable = False

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, capacity: int):
        super().__init__()
        self.device, self.is_initialized = keys.device, True
        self.length = keys.shape[-2]
        self._keys = self._room(keys, max(capacity, self.length))
        self._values = self._room(values, max(capacity, self.length))
        self._expose()

    @classmethod
    def of_buffers(cls, keys: torch.Tensor, values: torch.Tensor, length: int) -> RoomyLayer:
        """A layer over buffers laid out already: positions [0, length) filled, the rest room for the decode."""
        layer = cls.__new__(cls)
        DynamicLayer.__init__(layer)
        layer.device, layer.is_initialized, layer.length = keys.device, True, length
        layer._keys, layer._values = keys, values
        layer._expose()
        return layer

    def _room(self, states: torch.Tensor, capacity: int) -> torch.Tensor:
        buffer = states.new_empty(*states.shape[:-2], capacity, states.shape[-1])
        buffer[..., : states.shape[-2], :] = states
        return buffer

    def _expose(self) -> None:
        self.keys = self._keys[..., : self.length, :]
        self.values = self._values[..., : self.length, :]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        end = self.length + key_states.shape[-2]
        if end > self._keys.shape[-2]:  # past the planned room: grow by doubling
            self._keys = self._room(self.keys, 2 * end)
            self._values = self._room(self.values, 2 * end)
        self._keys[..., self.length : end, :] = key_states
        self._values[..., self.length : end, :] = value_states
        self.length = end
        self._expose()
        return self.keys, self.values

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._keys = self._keys.repeat_interleave(repeats, dim=0)
        self._values = self._values.repeat_interleave(repeats, dim=0)
        self._expose()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Row i becomes row indices[i]. When every row that changes takes a row from past the new end (the decode
        loop's swap-remove, `compaction`), only those rows' filled parts move, in place; otherwise the buffer is
        copied whole."""
        slots = torch.arange(len(indices), device=indices.device)
        moved = indices != slots
        if len(indices) <= self._keys.shape[0] and bool((indices[moved] >= len(indices)).all()):
            source, target = indices[moved], slots[moved]
            self._keys[target, :, : self.length] = self._keys[source, :, : self.length]
            self._values[target, :, : self.length] = self._values[source, :, : self.length]
            self._keys, self._values = self._keys[: len(indices)], self._values[: len(indices)]
        else:
            self._keys, self._values = self._keys[indices, ...], self._values[indices, ...]
        self._expose()

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.batch_select_indices(beam_idx.to(self._keys.device))

    def reset(self) -> None:
        self.length = 0
        self._expose()

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("RoomyLayer is for a decode loop that only appends")

    def offload(self):
        raise NotImplementedError("RoomyLayer keeps its buffer where it was made")

    def prefetch(self):
        raise NotImplementedError("RoomyLayer keeps its buffer where it was made")


def preallocate(cache, capacity: int):
    """`cache` with each plain dynamic layer replaced by a RoomyLayer with room for `capacity` positions; a cache of
    another kind (no `layers`, or other layer types) is returned as it is."""
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer or not layer.is_initialized for layer in layers):
        return cache
    cache.layers = [RoomyLayer(layer.keys, layer.values, capacity) for layer in layers]
    return cache


def compaction(done: torch.Tensor) -> torch.Tensor:
    """Indices that drop the rows marked `done` by moving the last kept rows into their places (swap-remove): the
    kept rows in front stay where they are, so a cache moves one row per dropped row instead of every kept row."""
    keep = (~done).nonzero().squeeze(-1)
    order = torch.arange(len(keep), device=done.device)
    holes = done[: len(keep)].nonzero().squeeze(-1)
    order[holes] = keep[keep >= len(keep)]
    return order
