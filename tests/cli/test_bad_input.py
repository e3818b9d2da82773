"""Every command and sub-command, given bad input of each kind, exits non-zero with one plain
message naming the input, and never a traceback.

Kinds of bad input: missing, empty, wrong-type and unwritable paths; zero, negative and huge
numbers; unknown names; options that only fail together. Most rows call ``f4d.cli.main.main``
in this process (fast); a few run the real command in a subprocess, e.g. ``f4d synth`` whose
worker processes all fail. ``test_every_command_has_rows`` keeps the table complete when a
command is added.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from f4d.cli.main import all_subparsers, build_parser, main
from f4d.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE

USAGE, CONFIG, INPUT, OUTPUT, FAILED = EXIT_USAGE, EXIT_CONFIG, EXIT_INPUT, EXIT_OUTPUT, EXIT_FAILED
HUGE = str(10**12)

# (command, argv, exit code, text the message must hold). In argv and text, {d} is a folder of
# bad inputs (see `bad`): afile (a file where a folder is needed), empty.* (0 bytes),
# model.pt (a torch.save pickle), notes.txt (text), list.yaml (a YAML list), ok.yaml (a valid
# config of a 6-video dataset), ckpt (a valid tsn_tiny checkpoint).
ROWS = [
    # f4d synth
    ("synth", ["synth", "{d}/afile/out"], USAGE, "afile is a file, not a folder"),
    ("synth", ["synth", "{d}/s", "--size", "0"], USAGE, "argument --size"),
    ("synth", ["synth", "{d}/s", "--num-train", "-5"], USAGE, "argument --num-train"),
    ("synth", ["synth", "{d}/s", "--frames", HUGE], USAGE, "argument --frames"),
    ("synth", ["synth", "{d}/s", "--units", "1"], USAGE, "argument --units"),
    ("synth", ["synth", "{d}/s", "--workers", "-1"], USAGE, "argument --workers"),
    ("synth", ["synth", "{d}/s", "--format", "avi"], USAGE, "argument --format"),
    ("synth", ["synth", "{d}/s", "--num-train", "0", "--num-test", "0"], USAGE, "--num-test"),
    ("synth", ["synth", "{d}/s", "--classes", "99"], USAGE, "--classes 99"),
    ("synth", ["synth", "{d}/s", "--frames", "6"], USAGE, "--frames 6"),
    # f4d data check
    ("data check", ["data", "check", "{d}/nope"], USAGE, "nope"),
    ("data check", ["data", "check", "{d}/empty.csv"], INPUT, "empty.csv: no rows"),
    ("data check", ["data", "check", "{d}/list.yaml"], CONFIG, "list.yaml"),
    ("data check", ["data", "check", "{d}/model.pt", "--format", "csv"], INPUT, "model.pt"),
    ("data check", ["data", "check", "{d}/ds", "--units", "0"], USAGE, "argument --units"),
    ("data check", ["data", "check", "{d}/ds", "--frames", HUGE], USAGE, "argument --frames"),
    ("data check", ["data", "check", "{d}/ds", "--workers", "-2"], USAGE, "argument --workers"),
    ("data check", ["data", "check", "{d}/ds", "--format", "nope"], USAGE, "argument --format"),
    ("data check", ["data", "check", "{d}/ds", "--fold", "4"], USAGE, "argument --fold"),
    ("data check", ["data", "check", "{d}/ds", "--split", "nope"], USAGE, "--split nope"),
    ("data check", ["data", "check", "{d}/ds", "data.root=x"], USAGE, "KEY=VALUE"),
    ("data", ["data", "nope"], USAGE, "'nope'"),
    # f4d data prepare
    ("data prepare", ["data", "prepare", "{d}/nope", "{d}/out"], USAGE, "nope"),
    ("data prepare", ["data", "prepare", "{d}/notes.txt", "{d}/out"], USAGE, "expected a folder"),
    ("data prepare", ["data", "prepare", "{d}/ds", "{d}/afile"], USAGE, "afile is a file"),
    ("data prepare", ["data", "prepare", "{d}/ds", "{d}/o", "--short-side", "255"], USAGE,
     "argument --short-side"),
    ("data prepare", ["data", "prepare", "{d}/ds", "{d}/o", "--gop", "0"], USAGE, "--gop"),
    ("data prepare", ["data", "prepare", "{d}/ds", "{d}/o", "--crf", "52"], USAGE, "--crf"),
    ("data prepare", ["data", "prepare", "{d}/ds", "{d}/o", "--workers", "-1"], USAGE,
     "--workers"),
    ("data prepare", ["data", "prepare", "{d}/ds", "{d}/ds/out"], USAGE, "must not be SRC"),
    # f4d train
    ("train", ["train", "{d}/nope.yaml"], USAGE, "no such file or folder: '{d}/nope.yaml'"),
    ("train", ["train", "{d}/empty.yaml"], CONFIG, "empty.yaml: data.root is required"),
    ("train", ["train", "{d}/list.yaml"], CONFIG, "list.yaml"),
    ("train", ["train", "{d}/model.pt"], CONFIG, "model.pt: not valid YAML"),
    ("train", ["train", "{d}/ok.yaml", "optim.epochs=-1"], CONFIG, "optim.epochs=-1"),
    ("train", ["train", "{d}/ok.yaml", "data.units=0"], CONFIG, "data.units=0"),
    ("train", ["train", "{d}/ok.yaml", "optim.lrr=1"], CONFIG, "optim.lrr"),
    ("train", ["train", "{d}/ok.yaml", "model.name=nope"], CONFIG, "unknown model 'nope'"),
    ("train", ["train", "{d}/ok.yaml", "data.root={d}/nope"], INPUT, "nope"),
    ("train", ["train", "{d}/ok.yaml", "run.out_dir={d}/afile/run"], OUTPUT, "afile/run"),
    ("train", ["train", "{d}/ok.yaml", "data.frames=100000"], CONFIG, "data.frames=100000"),
    ("train", ["train", "{d}/ok.yaml", "data.size=64"], CONFIG, "data.size=64"),
    ("train", ["train", "{d}/ok.yaml", "model.pretrained_2d={d}/notes.txt", "model.name=i3d_tiny"],
     INPUT, "model.pretrained_2d="),
    ("train", ["train", "{d}/ok.yaml", "run.init_from={d}/model.pt"], INPUT, "pickled PyTorch"),
    # f4d test
    ("test", ["test", "{d}/nope.yaml"], USAGE, "no such file or folder: '{d}/nope.yaml'"),
    ("test", ["test", "{d}/ok.yaml", "checkpoint={d}/nope"], INPUT, "no checkpoint at"),
    ("test", ["test", "{d}/ok.yaml", "checkpoint={d}/model.pt"], INPUT, "pickled PyTorch file"),
    ("test", ["test", "{d}/ok.yaml", "data.test_units=0"], CONFIG, "data.test_units=0"),
    ("test", ["test", "{d}/ok.yaml", "test.views=nope"], CONFIG, "test.views"),
    ("test", ["test", "{d}/ok.yaml", "--precision", "fp8"], USAGE, "argument --precision"),
    ("test", ["test", "{d}/ok.yaml", "run.amp=fp8"], CONFIG, "run.amp='fp8'"),
    # f4d predict
    ("predict", ["predict", "{d}/nope.mp4", "--checkpoint", "{d}/ckpt"], USAGE, "nope.mp4"),
    ("predict", ["predict", "{d}/empty.mp4", "--checkpoint", "{d}/ckpt"], FAILED, "empty.mp4"),
    ("predict", ["predict", "{d}/notes.txt", "--checkpoint", "{d}/ckpt"], FAILED, "notes.txt"),
    ("predict", ["predict", "x.mp4", "--checkpoint", "{d}/nope"], INPUT, "no checkpoint at"),
    ("predict", ["predict", "x.mp4", "--checkpoint", "{d}/empty.safetensors"], INPUT,
     "empty.safetensors: the file is empty"),
    ("predict", ["predict", "x.mp4", "--checkpoint", "{d}/model.pt"], INPUT,
     "model.pt is not an f4d checkpoint: it is a pickled PyTorch file"),
    ("predict", ["predict", "x.mp4", "--checkpoint", "{d}/notes.txt"], INPUT,
     "notes.txt is not an f4d checkpoint"),
    ("predict", ["predict", "x.mp4", "--checkpoint", "{d}/ckpt", "--topk", "0"], USAGE, "--topk"),
    ("predict", ["predict", "x.mp4", "--checkpoint", "{d}/ckpt", "--units", "-1"], USAGE,
     "argument --units"),
    ("predict", ["predict", "x.mp4", "--checkpoint", "{d}/ckpt", "--frames", HUGE], USAGE,
     "argument --frames"),
    ("predict", ["predict", "x.mp4", "--checkpoint", "{d}/ckpt", "--views", "triple"], USAGE,
     "argument --views"),
    ("predict", ["predict", "x.mp4", "--checkpoint", "{d}/ckpt", "--explain", "{d}/afile/x"],
     USAGE, "argument --explain"),
    ("predict", ["predict", "x.mp4", "--checkpoint", "{d}/ckpt", "--device", "cuda:7"], USAGE,
     "argument --device"),
    ("predict", ["predict", "{d}/empty.mp4", "--checkpoint", "{d}/ckpt", "--timeline",
                 "--window", "0"], USAGE, "argument --window"),
    ("predict", ["predict", "{d}/empty.mp4", "--checkpoint", "{d}/ckpt", "--timeline",
                 "--hop", "-1"], USAGE, "argument --hop"),
    ("predict", ["predict", "{d}/empty.mp4", "--checkpoint", "{d}/ckpt", "--timeline",
                 "--hop", "x"], USAGE, "argument --hop"),
    ("predict", ["predict", "{d}/empty.mp4", "--checkpoint", "{d}/ckpt", "--window", "2"], USAGE,
     "--window need --timeline"),
    ("predict", ["predict", "{d}/empty.mp4", "{d}/notes.txt", "--checkpoint", "{d}/ckpt",
                 "--timeline"], USAGE, "--timeline takes one VIDEO"),
    ("predict", ["predict", "{d}/empty.mp4", "--checkpoint", "{d}/ckpt", "--timeline"], FAILED,
     "empty.mp4"),
    # f4d export
    ("export", ["export", "{d}/nope", "--out", "{d}/m.onnx"], INPUT, "no checkpoint at"),
    ("export", ["export", "{d}/model.pt", "--out", "{d}/m.onnx"], INPUT, "pickled PyTorch"),
    ("export", ["export", "{d}/empty.safetensors", "--out", "{d}/m.onnx"], INPUT, "empty"),
    ("export", ["export", "{d}/ckpt", "--out", "{d}/afile/m.onnx"], USAGE, "argument --out"),
    ("export", ["export", "{d}/ckpt", "--out", "{d}"], USAGE, "is a folder"),
    ("export", ["export", "--model", "nope", "--num-classes", "3", "--out", "{d}/m.onnx"], USAGE,
     "unknown model 'nope'"),
    ("export", ["export", "--model", "tsn_tiny", "--num-classes", "0", "--out", "{d}/m.onnx"],
     USAGE, "argument --num-classes"),
    ("export", ["export", "{d}/ckpt", "--out", "{d}/m.onnx", "--opset", "0"], USAGE, "--opset"),
    ("export", ["export", "{d}/ckpt", "--out", "{d}/m.onnx", "--units", HUGE], USAGE, "--units"),
    ("export", ["export", "{d}/ckpt", "--out", "{d}/m.onnx", "--format", "tf"], USAGE, "--format"),
    ("export", ["export", "--out", "{d}/m.onnx"], USAGE, "CHECKPOINT or --model"),
    # f4d profile
    ("profile", ["profile", "--frames", "0", "--no-speed"], USAGE, "argument --frames"),
    ("profile", ["profile", "--units", "-1", "--no-speed"], USAGE, "argument --units"),
    ("profile", ["profile", "--size", HUGE, "--no-speed"], USAGE, "argument --size"),
    ("profile", ["profile", "--batch", "0"], USAGE, "argument --batch"),
    ("profile", ["profile", "--model", "f4d_r55"], USAGE, "unknown model 'f4d_r55'"),
    ("profile", ["profile", "--json", "{d}/afile/p.json"], USAGE, "argument --json"),
    ("profile", ["profile", "--device", "gpu"], USAGE, "argument --device"),
    # f4d bench
    ("bench model", ["bench", "model", "--models", "nope"], USAGE, "unknown model 'nope'"),
    ("bench model", ["bench", "model", "--batch", "0"], USAGE, "argument --batch"),
    ("bench model", ["bench", "model", "--frames", HUGE], USAGE, "argument --frames"),
    ("bench model", ["bench", "model", "--repeats", "-1"], USAGE, "argument --repeats"),
    ("bench model", ["bench", "model", "--json", "{d}/afile/b.json"], USAGE, "argument --json"),
    ("bench model", ["bench", "model", "--peak-tflops", "-3"], USAGE, "argument --peak-tflops"),
    ("bench ops", ["bench", "ops", "--widths", "0,64"], USAGE, "argument --widths"),
    ("bench ops", ["bench", "ops", "--widths", HUGE], USAGE, "argument --widths"),
    ("bench ops", ["bench", "ops", "--kernel", "3,3"], USAGE, "argument --kernel"),
    ("bench breakdown", ["bench", "breakdown", "--models", "v4d"], USAGE, "unknown model 'v4d'"),
    ("bench breakdown", ["bench", "breakdown", "--units", "0"], USAGE, "argument --units"),
    ("bench data", ["bench", "data", "{d}/nope", "--format", "folder"], USAGE, "nope"),
    ("bench data", ["bench", "data", "{d}/empty.csv"], INPUT, "empty.csv: no rows"),
    ("bench data", ["bench", "data", "{d}/ds", "--num-videos", "0"], USAGE, "--num-videos"),
    ("bench data", ["bench", "data", "{d}/ds", "--workers", "-1"], USAGE, "--workers"),
    ("bench data", ["bench", "data", "{d}/ds", "--format", "nope"], USAGE, "--format"),
    ("bench data", ["bench", "data"], USAGE, "PATH or --synthetic"),
    ("bench data", ["bench", "data", "--synthetic", "--units", "1"], USAGE, "--units 1"),
    ("bench data", ["bench", "data", "--synthetic", "--naive"], USAGE, "need a dataset PATH"),
    ("bench data", ["bench", "data", "{d}/ds", "--prepared", "{d}/nope"], USAGE, "--prepared"),
    ("bench data", ["bench", "data", "{d}/ds", "--rounds", "0"], USAGE, "--rounds"),
    ("bench report", ["bench", "report", "{d}/nope.json"], USAGE, "nope.json"),
    ("bench report", ["bench", "report", "{d}/empty.json"], USAGE, "empty.json is empty"),
    ("bench report", ["bench", "report", "{d}/model.pt"], INPUT, "model.pt is not a JSON"),
    ("bench report", ["bench", "report", "{d}/list.json"], INPUT, "list.json is not a report"),
    ("bench report", ["bench", "report", "{d}/list.json", "--out", "{d}/afile/r.md"], USAGE,
     "argument --out"),
    ("bench", ["bench", "nope"], USAGE, "'nope'"),
    # f4d demo, f4d experiment
    ("demo", ["demo", "--out", "{d}/afile/demo"], USAGE, "afile is a file"),
    ("experiment", ["experiment", "table9"], USAGE, "'table9'"),
    ("experiment", ["experiment", "table2", "--seeds", "-1"], USAGE, "--seeds"),
    ("experiment", ["experiment", "table2", "--seeds", "0,x"], USAGE, "--seeds"),
    ("experiment", ["experiment", "table2", "--out", "{d}/afile/e"], USAGE, "afile is a file"),
    # f4d serve (refused before a server starts)
    ("serve", ["serve", "{d}/nope"], INPUT, "no checkpoint at"),
    ("serve", ["serve", "{d}/model.pt"], INPUT, "pickled PyTorch file"),
    ("serve", ["serve", "{d}/ckpt", "--port", "70000"], USAGE, "argument --port"),
    ("serve", ["serve", "{d}/ckpt", "--workers", "0"], USAGE, "argument --workers"),
    ("serve", ["serve", "{d}/ckpt", "--max-upload-mb", "-1"], USAGE, "--max-upload-mb"),
    ("serve", ["serve", "{d}/ckpt", "--decode-timeout", "nan"], USAGE, "--decode-timeout"),
    ("serve", ["serve", "{d}/ckpt", "--views", "nope"], USAGE, "argument --views"),
    # f4d itself
    ("f4d", ["nope"], USAGE, "'nope'"),
    ("f4d", ["--nope"], USAGE, "--nope"),
]  # fmt: skip


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of bad (and a few good) inputs for the rows."""
    from f4d.data.synthetic import generate
    from f4d.engine.checkpoint import save_checkpoint
    from f4d.models import create_model

    d = tmp_path_factory.mktemp("bad_input")
    (d / "afile").write_text("a file where a folder is needed\n")
    for name in ("empty.yaml", "empty.csv", "empty.safetensors", "empty.json", "empty.mp4"):
        (d / name).touch()
    torch.save({"weight": torch.zeros(2)}, d / "model.pt")
    (d / "notes.txt").write_text("not a video, not a checkpoint\n")
    (d / "x.mp4").write_text("a video that is never opened: the checkpoint fails first\n")
    (d / "list.yaml").write_text("- a\n- b\n")
    (d / "list.json").write_text("[1, 2]\n")
    generate(d / "ds", num_train=4, num_test=2, size=16, frames=8, units=4, num_classes=4,
             workers=0)  # fmt: skip
    (d / "ok.yaml").write_text(
        f"data: {{root: {d / 'ds'}, size: 16, scale_size: 16, frames: 1, stride: 1, units: 4, "
        "test_units: 4, test_crops: 1, workers: 0}\n"
        f"model: {{name: tsn_tiny}}\noptim: {{epochs: 1, batch_size: 2}}\n"
        f"run: {{progress: false, out_dir: {d / 'run'}}}\n"
    )
    save_checkpoint(
        d / "ckpt", model=create_model("tsn_tiny", 4), optimizer=None, scheduler=None,
        scaler=None, epoch=0, step=0, best_metric=None, config={}, classes=list("abcd"),
        tag="best",
    )  # fmt: skip
    return d


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refusals exit from inside parse_args
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    ("command", "argv", "code", "text"), ROWS, ids=[" ".join(r[1]) for r in ROWS]
)
def test_bad_input_is_one_plain_message(bad, capsys, monkeypatch, command, argv, code, text):
    monkeypatch.delenv("F4D_DEBUG", raising=False)
    monkeypatch.chdir(bad)
    got, printed = _run([a.replace("{d}", str(bad)) for a in argv], capsys)
    assert "Traceback" not in printed and "internal error" not in printed, printed
    assert got == code, printed
    assert text.replace("{d}", str(bad)) in printed, printed
    errors = [line for line in printed.splitlines() if "error" in line]
    assert errors, printed


def _commands() -> set[str]:
    """Every command and sub-command the parser knows, as the rows name them."""
    return {parser.prog.removeprefix("f4d ") for parser in all_subparsers(build_parser())}


def test_every_command_has_rows() -> None:
    missing = _commands() - {row[0] for row in ROWS}
    assert not missing, f"add rows of bad input for {sorted(missing)} to ROWS in {__file__}"


def _f4d(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return subprocess.run(
        [sys.executable, "-m", "f4d.cli.main", *argv],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": src, **(env or {})},
    )  # fmt: skip


def test_synth_workers_that_all_fail_give_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "videos").mkdir(parents=True)
    (out / "videos" / "train").write_text("a file where the video folder goes\n")
    proc = _f4d("synth", str(out), "--num-train", "8", "--num-test", "0", "--workers", "2",
                "--size", "16", "--frames", "8", "--quiet")  # fmt: skip
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("f4d synth: error: ") and "videos/train" in line


def test_debug_shows_the_traceback_in_a_real_process(tmp_path: Path) -> None:
    plain = _f4d("export", str(tmp_path / "nope"), "--out", str(tmp_path / "m.onnx"))
    assert plain.returncode == EXIT_INPUT and "Traceback" not in plain.stderr
    debug = _f4d("export", str(tmp_path / "nope"), "--out", str(tmp_path / "m.onnx"),
                 env={"F4D_DEBUG": "1"})  # fmt: skip
    assert debug.returncode == EXIT_INPUT and "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()
