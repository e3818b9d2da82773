"""The one progress bar of the engine's loops (training, validation, testing): tqdm on rank 0.

tqdm shows the count, the rate and the time left (ETA), on stderr, redrawn in place; with
``enabled=False`` (``run.progress=false``, other ranks) nothing is drawn.
"""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar"]


def progress_bar(total: int, *, desc: str, unit: str, enabled: bool, leave: bool = False) -> Any:
    """A tqdm bar over ``total`` ``unit``s, or ``None`` when not ``enabled``.

    Callers ``update(n)`` it and ``close()`` it; ``leave`` keeps the finished bar on screen.
    """
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True)
