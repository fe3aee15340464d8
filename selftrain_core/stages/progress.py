"""Progress of a long stage: a tqdm bar in the terminal and, when the caller asks, a percentage callback (the
Prefect task turns it into a progress artifact; selftrain_core knows nothing of Prefect)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

Report = Callable[[float], None]


@contextmanager
def progress_bar(
    total: int, desc: str, unit: str, report: Report | None = None, already: int = 0
) -> Iterator[Callable[[int], None]]:
    """Yields `update(n)`; `already` counts work done by an earlier attempt (a resumed stage starts there)."""
    overall, count = total + already, already
    with tqdm(total=total, desc=desc, unit=unit) as bar:

        def update(n: int = 1) -> None:
            nonlocal count
            bar.update(n)
            count += n
            if report is not None and overall:
                report(100.0 * count / overall)

        if report is not None and overall:
            report(100.0 * count / overall)
        yield update
