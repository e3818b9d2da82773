"""`import f4d` changes nothing outside f4d; the process tuning is one explicit call the CLI makes.

Each check runs in a fresh interpreter: this test process has imported torch and f4d long ago.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("THP_MEM_ALLOC_ENABLE",
                                                                  "F4D_MALLOC_TUNING")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", code], env={**environ, **env},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def test_import_f4d_leaves_the_environment_alone():
    code = "import os, f4d; print(os.environ.get('THP_MEM_ALLOC_ENABLE'))"
    assert _python(code) == "None"


def test_import_f4d_does_not_call_mallopt():
    """The sub-packages library users import never load f4d.runtime, the one place that
    calls mallopt."""
    code = (
        "import sys, f4d, f4d.models, f4d.data, f4d.engine.predict, f4d.data.formats\n"
        "print('f4d.runtime' in sys.modules)"
    )
    assert _python(code) == "False"


def test_tune_process_sets_huge_pages_before_torch():
    code = (
        "from f4d.runtime import tune_process; t = tune_process(); import os\n"
        "print(os.environ['THP_MEM_ALLOC_ENABLE'], t.huge_pages, t.torch_loaded, t.malloc)"
    )
    assert _python(code) == f"1 True False {GLIBC}"


def test_tune_process_honours_the_opt_outs():
    code = (
        "import torch; from f4d.runtime import tune_process; t = tune_process()\n"
        "print(t.huge_pages, t.torch_loaded, t.malloc)"
    )
    assert _python(code, THP_MEM_ALLOC_ENABLE="0", F4D_MALLOC_TUNING="0") == "False True False"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_keep_freed_memory_on_glibc(monkeypatch):
    from f4d.runtime import keep_freed_memory

    assert keep_freed_memory() is True
    monkeypatch.setenv("F4D_MALLOC_TUNING", "0")
    assert keep_freed_memory() is False


def test_the_cli_tunes_the_process_before_torch_loads():
    """``f4d.cli.main.main`` calls tune_process first: torch is not loaded yet when it runs,
    and a command (here ``profile --help``, whose module imports torch) sees the setting."""
    code = (
        "import sys, os, f4d.runtime as rt\n"
        "seen = []\n"
        "real = rt.tune_process\n"
        "def spy():\n"
        "    seen.append('torch' in sys.modules)\n"
        "    return real()\n"
        "import f4d.cli.main as cli\n"
        "cli.tune_process = spy\n"
        "try:\n"
        "    cli.main(['profile', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "thp = os.environ.get('THP_MEM_ALLOC_ENABLE')\n"
        "print(seen, 'torch' in sys.modules, thp, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={k: v for k, v in os.environ.items()
                                              if k != "THP_MEM_ALLOC_ENABLE"})  # fmt: skip
    assert result.stderr.strip().splitlines()[-1] == "[False] True 1"
