"""Helpers of the format tests: write a file, list an index's records relative to a root."""

from __future__ import annotations

from pathlib import Path


def write(path: Path, text: str, newline: str = "\n") -> Path:
    """Write ``text`` (with ``newline`` line ends) to ``path``, creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def rel(index, root: Path) -> list[tuple[str, int]]:
    """``(relative posix path, label)`` of every record of ``index``."""
    return [(r.path.relative_to(root).as_posix(), r.label) for r in index.records]
