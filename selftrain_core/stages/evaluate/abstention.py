"""Abstentions: answers that decline ("I don't know", "I'm not sure", "I cannot answer") rather than state a fact.

An abstention is neither correct nor a hallucination, and a model that learns to abstain on what it does not know
has not learned to answer wrong: evaluation counts abstentions apart from wrong answers. An empty answer counts as
an abstention too (the model said nothing).
"""

from __future__ import annotations

import re

_DECLINE = re.compile(
    r"\b(i\s+(do\s*n[o']t|don't|dont)\s+know|i\s*(am|'m)\s+not\s+(sure|certain|aware)|i\s+(can\s*not|can't|cannot)"
    r"\s+(answer|say|tell|provide|determine|find|help)|i\s+(have|had)\s+no\s+(information|idea|knowledge)|"
    r"(is|are)\s+(unknown|not\s+known)|no\s+(reliable\s+)?information\s+(is\s+)?available|"
    r"(not|n't)\s+(enough|sufficient)\s+(information|context)|unable\s+to\s+(answer|determine|provide))",
    re.IGNORECASE,
)


def is_abstention(answer: str) -> bool:
    """True when the answer is empty or its first sentence declines to answer."""
    text = answer.strip()
    if not text:
        return True
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return bool(_DECLINE.search(first.replace("’", "'")))
