"""Curated rows -> TRL datasets. A pair whose chosen equals its rejected teaches nothing and is dropped with a
reason; so is a row with an empty completion."""

from __future__ import annotations

from collections import Counter
from typing import Any


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
