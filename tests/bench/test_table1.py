"""f4d.bench.table1: the paper's Table 1 as data and the inputs our rows are measured at."""

from __future__ import annotations

import pytest
import torch

from f4d.bench import table1
from f4d.errors import OptionError


def test_the_paper_rows_as_printed():
    assert [(r.approach, r.model, r.frames, r.gflops) for r in table1.PAPER_TABLE1] == [
        ("V4D", "v4d_r50", 8, 167.0), ("F4D", "f4d_r50", 8, 72.0), ("F4D", "f4d_r50", 16, 143.0),
    ]  # fmt: skip


def test_each_row_has_the_paper_protocol_and_the_training_input():
    specs = table1.table1_specs(units=4)
    assert [label for label, _, _ in specs] == ["V4D 8f", "F4D 8f", "F4D 16f", "V4D backbone"]
    inputs = specs[2][2]
    assert inputs == {
        "paper_protocol": table1.Input("f4d_r50", 4, 4),  # 16 frames per video = 4 x 4
        "training_input": table1.Input("f4d_r50", 4, 16),
    }
    with pytest.raises(OptionError, match="--units 3 does not divide the paper's 8 frames"):
        table1.table1_specs(units=3)


def test_speed_settings_by_device_and_the_paper_ratio():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert table1.speed_setting(cpu) == table1.SpeedSetting(1, 1, 3)
    assert table1.speed_setting(cuda, batch=None, iters=4) == table1.SpeedSetting(16, 3, 4)
    rows = [table1.Table1Row(label, paper, inputs, {}) for label, paper, inputs in
            table1.table1_specs(units=4)]  # fmt: skip
    assert table1.speed_ratio(rows, None) == pytest.approx(52.3 / 38.1)
