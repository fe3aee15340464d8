"""Chunk settings: chunk length and overlap in policy-tokenizer tokens."""

from __future__ import annotations

from pydantic import Field, model_validator

from selftrain_core.config.base import StrictModel


class ChunkConfig(StrictModel):
    max_tokens: int = Field(256, gt=8, description="Chunk length in policy-tokenizer tokens.")
    overlap_tokens: int = Field(32, ge=0, description="Tokens shared by consecutive chunks of a document.")
    min_tokens: int = Field(24, ge=1, description="Drop chunks shorter than this (a trailing sliver).")

    @model_validator(mode="after")
    def _overlap_smaller(self) -> ChunkConfig:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("chunk.overlap_tokens must be smaller than chunk.max_tokens")
        if self.min_tokens > self.max_tokens:
            raise ValueError("chunk.min_tokens must be at most chunk.max_tokens (else every chunk is dropped)")
        return self
