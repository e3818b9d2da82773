"""What `import f4d` sets up for the process: huge-page and malloc settings for CPU speed."""

from __future__ import annotations

import os
import platform

import pytest

import f4d


def test_thp_is_on_unless_the_user_said_otherwise():
    assert os.environ.get("THP_MEM_ALLOC_ENABLE") in {"0", "1"}


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")  # fmt: skip
def test_malloc_keeps_freed_blocks_on_glibc(monkeypatch):
    assert f4d._keep_freed_memory() is True
    monkeypatch.setenv("F4D_MALLOC_TUNING", "0")
    assert f4d._keep_freed_memory() is False
