"""Curated rows -> TRL datasets. A pair whose chosen equals its rejected teaches nothing and is dropped with a
reason; so is a row with an empty completion."""

from __future__ import annotations

from collections import Counter
from typing import Any

from selftrain_core.errors import StageInputError


def _text(messages: list[dict[str, str]]) -> str:
    return " ".join(" ".join(m["content"].lower().split()) for m in messages)


def preference_rows(pairs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter]:
    """TRL conversational preference rows (prompt, chosen, rejected) and drop counts by reason."""
    rows, drops = [], Counter()
    for pair in pairs:
        chosen, rejected = _text(pair["chosen"]), _text(pair["rejected"])
        if not chosen or not rejected:
            drops["empty_completion"] += 1
        elif chosen == rejected:
            drops["chosen_equals_rejected"] += 1
        else:
            rows.append(
                {"prompt": list(pair["prompt"]), "chosen": list(pair["chosen"]), "rejected": list(pair["rejected"])}
            )
    return rows, drops


def sft_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter]:
    """TRL prompt-completion rows (loss on the completion only) from chat `messages`, and drop counts."""
    out, drops = [], Counter()
    for row in rows:
        messages = list(row["messages"])
        if not messages or messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
            drops["empty_completion"] += 1
            continue
        out.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return out, drops


def check_prompts_fit(tokenizer, rows: list[dict[str, Any]], max_length: int) -> None:
    """Raise StageInputError when no row's prompt (chat-templated, as the trainer tokenizes it) leaves room for its
    answer under train.max_length: TRL would otherwise truncate every answer away and fail on an empty batch. Stops
    at the first prompt that fits (usually the first row)."""
    shortest = None
    for row in rows:
        ids = tokenizer.apply_chat_template(list(row["prompt"]), add_generation_prompt=True, tokenize=True)
        length = len(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
        if length < max_length:
            return
        shortest = length if shortest is None else min(shortest, length)
    if shortest is not None:
        raise StageInputError(
            f"every training row's prompt is {shortest} tokens or more, at or over train.max_length={max_length}: "
            "no answer would be left to train on. Raise train.max_length or use a shorter prompt."
        )
