"""`f4d demo --quick`: the whole demo pipeline end to end at toy size."""

from __future__ import annotations

import json
from pathlib import Path

from f4d.cli.main import main
from f4d.models import create_model
from f4d.models.profile import count_parameters


def test_quick_demo_writes_summary_for_three_models(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [m["model"] for m in summary["models"]] == ["f4d_tiny", "tsn_tiny", "v4d_tiny"]
    for row in summary["models"]:
        assert row["params"] > 0 and row["macs"] > 0 and row["steps"] == 2
        assert 0.0 <= row["test_top1"] <= 100.0 and row["train_videos_per_s"] > 0
        assert Path(row["run_dir"], "checkpoints", "last.safetensors").is_file()
    by_name = {m["model"]: m for m in summary["models"]}
    assert by_name["tsn_tiny"]["params"] < by_name["f4d_tiny"]["params"]  # + one 4D block
    # the table profiles the recipe's model (its 4D block after conv5), not the zoo default
    recipe_f4d = create_model("f4d_tiny", 12, block4d_at={"conv5": [0]})
    assert by_name["f4d_tiny"]["params"] == count_parameters(recipe_f4d)
    assert count_parameters(recipe_f4d) != count_parameters(create_model("f4d_tiny", 12))
    assert Path(summary["pretrain"]["checkpoint"]).is_file()
    assert "| f4d_tiny |" in (out / "summary.md").read_text()
    assert "test top-1" in capsys.readouterr().out
