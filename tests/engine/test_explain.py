"""Tests for f4d.engine.explain: map upsampling and overlays, and matplotlib loaded only to draw.

The drawing end to end (TA plot, STA grids and GIFs from a real checkpoint) is tested through
``predict_video(..., explain_dir=...)`` in tests/engine/test_predict.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from f4d.engine import explain


def test_upsample_map_scales_to_unit_range():
    maps = np.array([[[[0.2, 0.6]]]], dtype=np.float32)  # (U=1, T'=1, H'=1, W'=2)
    up = explain.upsample_map(maps, (2, 1, 4))
    assert up.shape == (1, 2, 1, 4)
    assert up.min() == 0.0 and up.max() == 1.0
    assert (np.diff(up[0, 0, 0]) >= 0).all()  # left-to-right increase is kept
    assert not explain.upsample_map(np.full((1, 1, 2, 2), 0.5, np.float32), (1, 2, 2)).any()


def test_overlay_blends_half_and_half():
    frames = np.zeros((1, 1, 1, 1, 3), np.uint8)
    heat = np.ones((1, 1, 1, 1))  # jet(1.0) = dark red (0.5, 0, 0) -> 127.5 at half strength
    assert explain.overlay_frames(frames, heat)[0, 0, 0, 0].tolist() == [64, 0, 0]


def test_importing_predict_does_not_import_matplotlib():
    code = (
        "import sys, f4d.engine.predict, f4d.serve.worker\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import sys, numpy as np, f4d.engine.explain as e\n" + (
        "e.overlay_frames(np.zeros((1, 1, 1, 1, 3), np.uint8), np.ones((1, 1, 1, 1)))\n"
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"  # loaded when an overlay is drawn
