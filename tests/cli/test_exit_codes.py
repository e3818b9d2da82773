"""README's exit-code table, held against real runs of every command (issue 27, item 7).

The README's command table lists, per command, the exit codes it can give besides 0. This test
reads that table and requires, for every command, that the codes the rows below (plus the bad-
input rows of ``test_bad_input.ROWS``) produce are exactly the listed ones: every listed code is
produced by some run, and no run produces a code the README does not list. ``CASES`` adds the
codes that bad command lines alone cannot reach: a bad video found (1), a folder that holds a
run (2), an output the file system refuses at run time (5), running out of memory (1), ...

Outputs that cannot be written are made the way a user meets them: a path under a file
(``afile/...``) or a link that leads there, which the option checks cannot see through.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from f4d.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE
from tests.cli.test_bad_input import ROWS, _run, bad  # noqa: F401 (bad: the shared fixture)

README = Path(__file__).resolve().parents[2] / "README.md"
USAGE, CONFIG, INPUT, OUTPUT, FAILED = EXIT_USAGE, EXIT_CONFIG, EXIT_INPUT, EXIT_OUTPUT, EXIT_FAILED


def readme_exit_codes() -> dict[str, set[int]]:
    """``{"data check": {1, 2, 3, 4}, "bench": {...}, ...}`` from the README command table."""
    table: dict[str, set[int]] = {}
    for line in README.read_text().splitlines():
        if not line.startswith("| `f4d "):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        words = cells[0].strip("`").split()[1:]
        name = " ".join(w for w in words[:2] if re.fullmatch(r"[a-z]+", w))
        codes = re.sub(r"\([^)]*\)", "", cells[-1])
        table[name] = {int(m) for m in re.findall(r"(?:^|,)\s*(\d+)", codes)}
    return table


def _key(command: str) -> str | None:
    """The README row of a command of the rows (``bench model`` -> ``bench``)."""
    if command in ("f4d", "data"):  # the bare program and `f4d data` without an action
        return None
    return "bench" if command.startswith("bench") else command


# ---------------------------------------------------------------------------------- setups
Setup = Callable[[Path, pytest.MonkeyPatch], None]


def _garbage_dataset(d: Path, _: pytest.MonkeyPatch) -> None:
    """``{d}/junk``: a folder dataset whose one training video is not a video."""
    (d / "junk" / "train" / "push").mkdir(parents=True, exist_ok=True)
    (d / "junk" / "train" / "push" / "a.mp4").write_bytes(b"not a video" * 50)
    (d / "junk" / "test" / "push").mkdir(parents=True, exist_ok=True)
    (d / "junk" / "test" / "push" / "b.mp4").write_bytes(b"not a video" * 50)
    (d / "junk.yaml").write_text(
        f"data: {{format: folder, root: {d / 'junk'}, size: 16, scale_size: 16, frames: 1, "
        "stride: 1, units: 2, workers: 0, max_bad_videos: 0}\nmodel: {name: tsn_tiny}\n"
        f"optim: {{epochs: 1, batch_size: 1}}\nrun: {{progress: false, plots: false, "
        f"out_dir: {d / 'junk_run'}}}\n"
    )


def _empty_folder(d: Path, _: pytest.MonkeyPatch) -> None:
    (d / "nothing").mkdir(exist_ok=True)


def _held_run(d: Path, _: pytest.MonkeyPatch) -> None:
    """``{d}/held``: a folder that holds a run (one logged epoch)."""
    (d / "held").mkdir(exist_ok=True)
    (d / "held" / "metrics.jsonl").write_text('{"epoch": 1}\n')


def _link_under_a_file(name: str) -> Setup:
    """``{d}/<name>``: a link to ``{d}/afile/<name>`` (writing there fails: not a folder)."""

    def setup(d: Path, _: pytest.MonkeyPatch) -> None:
        link = d / name
        if not link.is_symlink():
            link.symlink_to(d / "afile" / name)

    return setup


def _prepare_options_blocked(d: Path, _: pytest.MonkeyPatch) -> None:
    """``{d}/pout``: an OUT whose options record is a folder, so it cannot be written."""
    (d / "pout" / ".f4d-prepare.json").mkdir(parents=True, exist_ok=True)


def _explain_blocked(d: Path, _: pytest.MonkeyPatch) -> None:
    """An f4d checkpoint (it has attention to explain) and an --explain folder whose
    per-video sub-folder is taken by a file."""
    from f4d.engine.checkpoint import save_checkpoint
    from f4d.models import create_model

    if not (d / "f4dckpt").exists():
        save_checkpoint(
            d / "f4dckpt", model=create_model("f4d_tiny", 4), optimizer=None, scheduler=None,
            scaler=None, epoch=0, step=0, best_metric=None, config={}, classes=list("abcd"),
            tag="best",
        )  # fmt: skip
    (d / "explain").mkdir(exist_ok=True)
    (d / "explain" / "clip").write_text("a file where the video's explain folder goes\n")
    videos = sorted((d / "ds" / "videos" / "test").iterdir())
    clip = d / "clip.mp4"
    if not clip.exists():
        clip.symlink_to(videos[0])


def _no_demo_recipes(d: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wheel install without the configs/demo recipes (a config the command needs)."""
    from f4d.experiments import recipe

    (d / "no_recipes").mkdir(exist_ok=True)
    monkeypatch.setattr(recipe, "CONFIG_DIR", d / "no_recipes")


# (command, argv, exit code, text the output must hold, setup). {d}: the `bad` folder.
CASES: list[tuple[str, list[str], int, str, Setup | None]] = [
    ("synth", ["synth", "{d}/s5", "--num-train", "2", "--num-test", "0", "--size", "16",
               "--frames", "8", "--workers", "1", "--quiet"], OUTPUT, "s5",
     _link_under_a_file("s5")),
    ("data check", ["data", "check", "{d}/junk", "--format", "folder"], FAILED, "a.mp4",
     _garbage_dataset),
    ("data prepare", ["data", "prepare", "{d}/junk", "{d}/junk_out", "--workers", "1"], FAILED,
     "a.mp4", _garbage_dataset),
    ("data prepare", ["data", "prepare", "{d}/nothing", "{d}/out"], INPUT,
     "holds no video files", _empty_folder),
    ("data prepare", ["data", "prepare", "{d}/ds", "{d}/pout", "--workers", "1"], OUTPUT,
     ".f4d-prepare.json", _prepare_options_blocked),
    ("train", ["train", "{d}/junk.yaml"], FAILED, "data.max_bad_videos=0", _garbage_dataset),
    ("train", ["train", "{d}/ok.yaml", "run.out_dir={d}/held"], USAGE, "already holds",
     _held_run),
    ("train", ["train", "{d}/ok.yaml", "run.out_dir={d}/nowhere", "--resume"], INPUT,
     "nothing to resume", None),
    ("test", ["test", "{d}/ok.yaml", "checkpoint={d}/ckpt", "test.output={d}/afile/x"], OUTPUT,
     "afile", None),
    ("predict", ["predict", "{d}/clip.mp4", "--checkpoint", "{d}/f4dckpt", "--explain",
                 "{d}/explain"], OUTPUT, "explain/clip", _explain_blocked),
    ("export", ["export", "--model", "tsn_tiny", "--num-classes", "3", "--out", "{d}/o7.onnx",
                "--exporter", "legacy", "--opset", "7", "--units", "2", "--frames", "2",
                "--size", "16"], FAILED, "does not run", None),
    ("export", ["export", "{d}/ckpt", "--format", "torchscript", "--out", "{d}/ts.pt",
                "--units", "2", "--frames", "2", "--size", "16"], OUTPUT, "ts.pt",
     _link_under_a_file("ts.pt")),
    ("profile", ["profile", "--model", "tsn_tiny", "--num-classes", "3", "--batch", "65536",
                 "--size", "4096"], FAILED, "out of memory", None),
    ("profile", ["profile", "--model", "tsn_tiny", "--num-classes", "3", "--size", "16",
                 "--frames", "2", "--units", "2", "--no-speed", "--json", "{d}/p.json"], OUTPUT,
     "p.json", _link_under_a_file("p.json")),
    ("bench", ["bench", "model", "--models", "tsn_tiny", "--batch", "65536", "--size", "4096",
               "--repeats", "1", "--warmup", "0", "--num-classes", "3"], FAILED,
     "can't allocate memory", None),
    ("bench", ["bench", "ops", "--widths", "4", "--units", "2", "--frames", "2", "--size", "4",
               "--repeats", "1", "--warmup", "0", "--json", "{d}/o.json"], OUTPUT, "o.json",
     _link_under_a_file("o.json")),
    ("experiment", ["experiment", "table2", "--smoke", "--seeds", "0", "--out", "{d}/exp"],
     CONFIG, "no_recipes", _no_demo_recipes),
    ("experiment", ["experiment", "table2", "--smoke", "--seeds", "0", "--out", "{d}/e5"], OUTPUT,
     "e5", _link_under_a_file("e5")),
    ("demo", ["demo", "--quick", "--out", "{d}/d5"], OUTPUT, "d5", _link_under_a_file("d5")),
]  # fmt: skip


def test_readme_lists_exactly_the_codes_each_command_gives() -> None:
    readme = readme_exit_codes()
    produced: dict[str, set[int]] = {}
    for command, _argv, code, *_ in [*ROWS, *CASES]:
        key = _key(command)
        if key is not None:
            produced.setdefault(key, set()).add(code)
    assert set(readme) == set(produced), "README rows and tested commands differ"
    for command, codes in readme.items():
        assert produced[command] == codes, (
            f"f4d {command}: README lists {sorted(codes)}, runs give {sorted(produced[command])}"
        )


def test_the_readme_table_is_parsed() -> None:
    """The parser itself, on rows whose codes hide in parentheses and escaped pipes."""
    codes = readme_exit_codes()
    assert codes["data check"] == {1, 2, 3, 4}
    assert codes["train"] == {1, 2, 3, 4, 5}
    assert codes["bench"] == {1, 2, 4, 5} and codes["serve"] == {2, 4}


@pytest.mark.parametrize(
    ("command", "argv", "code", "text", "setup"), CASES, ids=[" ".join(c[1][:3]) for c in CASES]
)
def test_each_listed_code_happens(bad, capsys, monkeypatch, command, argv, code, text, setup):  # noqa: F811
    monkeypatch.delenv("F4D_DEBUG", raising=False)
    monkeypatch.chdir(bad)
    if setup is not None:
        setup(bad, monkeypatch)
    got, printed = _run([a.replace("{d}", str(bad)) for a in argv], capsys)
    assert "Traceback" not in printed and "internal error" not in printed, printed[-2000:]
    assert got == code, printed[-2000:]
    assert text in printed, printed[-2000:]
