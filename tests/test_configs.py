"""Every YAML under configs/ loads, names a registered model, and says what it is.

Paper experiment configs are named ``<model>[_in1k]_<T>x<stride>x<U>_<epochs>e_<dataset>
[_split<N>]`` (mmaction2 style); these tests hold each name against the values the file
really sets, check the paper recipe (section 4.2) and that every table row has its config.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from f4d.engine.config import load_config
from f4d.models import is_model, list_models

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ALL = sorted(p for p in CONFIGS.rglob("*.yaml") if "_base" not in p.parts)
PAPER = [p for p in ALL if "demo" not in p.parts]
DATASETS = ("sthv1", "sthv2", "k400", "ucf101", "hmdb51")
NAME = re.compile(
    r"^(?P<model>[a-z0-9_]+?)(?P<in1k>_in1k)?_(?P<frames>\d+)x(?P<stride>\d+)x(?P<units>\d+)"
    r"_(?P<epochs>\d+)e_(?P<dataset>[a-z0-9]+?)(?:_split(?P<split>[123]))?$"
)


def rel(path: Path) -> str:
    return path.relative_to(CONFIGS).as_posix()


@pytest.fixture(scope="module")
def loaded() -> dict[Path, object]:
    return {path: load_config(path) for path in ALL}


def test_there_are_paper_configs_for_every_dataset():
    folders = {p.relative_to(CONFIGS).parts[0] for p in PAPER}
    assert set(DATASETS) <= folders


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_config_loads_and_model_is_registered(path, loaded):
    cfg = loaded[path]
    assert is_model(cfg.model.name), (
        f"{rel(path)}: model {cfg.model.name!r} is not registered; known: {list_models()}"
    )


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_name_says_what_the_config_sets(path, loaded):
    cfg = loaded[path]
    match = NAME.match(path.stem)
    assert match, f"{rel(path)} does not follow <model>_<T>x<stride>x<U>_<E>e_<dataset>"
    assert match["model"] == cfg.model.name
    assert (int(match["frames"]), int(match["stride"]), int(match["units"])) == (
        cfg.data.frames,
        cfg.data.stride,
        cfg.data.units,
    )
    assert int(match["epochs"]) == cfg.optim.epochs
    assert match["dataset"] == cfg.data.format == path.relative_to(CONFIGS).parts[0]
    if match["split"]:
        assert int(match["split"]) == cfg.data.split
    assert cfg.run.out_dir == f"runs/{cfg.data.format}/{path.stem}"


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_pretraining_matches_name_and_chain_is_runnable(path, loaded):
    """``_in1k`` and K400 runs start from ImageNet; the rest from a K400 run in this repo."""
    cfg = loaded[path]
    k400_runs = {loaded[p].run.out_dir: loaded[p] for p in PAPER if loaded[p].data.format == "k400"}
    if "_in1k_" in path.stem or cfg.data.format == "k400":
        assert cfg.model.pretrained_2d and cfg.run.init_from is None
        return
    assert cfg.model.pretrained_2d is None
    assert cfg.run.init_from in k400_runs, f"{rel(path)}: init_from is not a K400 config's run"
    family = cfg.model.name.split("_")[0]
    assert k400_runs[cfg.run.init_from].model.name == f"{family}_r50"


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_paper_recipe(path, loaded):
    """Section 4.2/4.3: SGD 0.9, lr 0.01 per 128, x0.1 at 20/40/60, 80 epochs, 224 crops,
    test U=10 x 3 crops, no flip on Something-Something."""
    cfg = loaded[path]
    optim = cfg.optim
    assert (optim.lr, optim.base_batch_size, optim.momentum, optim.schedule) == (
        0.01,
        128,
        0.9,
        "step",
    )
    assert (list(optim.milestones), optim.gamma, optim.epochs) == ([20, 40, 60], 0.1, 80)
    assert optim.global_batch_size == 128
    data = cfg.data
    assert (data.size, data.scale_size, data.test_units, data.test_crops) == (224, 256, 10, 3)
    assert data.flip is (data.format not in ("sthv1", "sthv2"))
    if data.format in ("ucf101", "hmdb51"):
        assert (data.units, data.frames) == (4, 16)


TABLE_ROWS = {  # Table 2's conv3 row is f4d_r50 itself (its blocks are in conv3)
    "Table 2": [f"f4d_r50_{row}" for row in
                ("conv1", "conv2", "conv4", "conv5", "conv2_3", "conv3_4", "conv2_5")]
    + ["f4d_r50"],
    "Table 4": [f"f4d_r50_{row}" for row in ("attn_none", "ca", "sta", "ca_sta", "ta", "ta_ca")]
    + ["f4d_r50"],
    "Table 5": ["f4d_r50_se", "f4d_r50_cbam", "f4d_r50_stm", "f4d_r50_tea", "f4d_r50"],
}  # fmt: skip


@pytest.mark.parametrize("dataset", ["sthv1", "sthv2"])
def test_every_ablation_row_has_a_config(dataset, loaded):
    configs = [loaded[p] for p in PAPER if p.relative_to(CONFIGS).parts[0] == dataset]
    at_8x4x4 = {c.model.name for c in configs if (c.data.frames, c.data.units) == (8, 4)}
    for table, names in TABLE_ROWS.items():
        missing = sorted(set(names) - at_8x4x4)
        assert not missing, f"{dataset} {table}: no config for {missing}"
    units = {c.data.units for c in configs if c.model.name == "f4d_r50" and c.data.frames == 8}
    assert {3, 4, 5, 6, 7} <= units, f"{dataset} Table 3: U_train rows {sorted(units)}"


def test_table2_conv3_row_is_f4d_r50():
    """One YAML per paper row: f4d_r50 is Table 2's conv3 architecture, so its config serves
    that row and no second config trains the same model."""
    import torch

    from f4d.models import create_model

    with torch.device("meta"):
        conv3, f4d = (create_model(name, 174) for name in ("f4d_r50_conv3", "f4d_r50"))
    assert conv3.model_args == f4d.model_args
    assert set(f4d.model_args["block4d_at"]) == {"conv3"}


PAPER_ROW = re.compile(r"^# Paper row: (?P<text>.*)$", re.M)
TOP1 = re.compile(r"top-1 (\d+\.\d)")


def _paper_row(path: Path) -> str:
    """The ``# Paper row:`` label of a config's header, with its wrapped continuation."""
    text = path.read_text()
    match = PAPER_ROW.search(text)
    assert match, f"{rel(path)} has no '# Paper row:' line naming the table and row it reproduces"
    return match["text"]


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_config_names_its_paper_row(path):
    """Every config says which table or figure row it reproduces, with the paper's top-1 for
    it, or 'none'; docs/configs.md lists it first with the same number."""
    label = _paper_row(path)
    assert re.match(r"(Table [1-5] '|Figure [4-8] '|none \()", label), f"{rel(path)}: {label}"
    number = TOP1.search(label)
    docs = (CONFIGS.parent / "docs" / "configs.md").read_text()
    rows = [line for line in docs.splitlines() if line.startswith(f"| `configs/{rel(path)}`")]
    row = rows[0]
    cells = [cell.strip() for cell in row.strip("|").split("|")][2:]  # the paper's top-1 cells
    listed = next((m[0] for cell in cells if (m := re.match(r"\d+\.\d", cell))), None)
    assert listed == (number and number[1]), f"{rel(path)}: label {label!r}, docs row {row!r}"


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_f4d_configs_use_the_papers_block_dropout(path, loaded):
    """Section 4.2: a dropout layer after each F4D block (0.5, docs/configs.md); V4D's blocks
    have none, 2D/3D baselines no 4D blocks at all."""
    cfg = loaded[path]
    block4d = cfg.model.args.get("block4d", {}) or {}
    expected = 0.5 if cfg.model.name.startswith("f4d_") else None
    assert block4d.get("dropout") == expected, f"{rel(path)}: model.args={cfg.model.args}"


@pytest.mark.parametrize("dataset", ["ucf101", "hmdb51"])
def test_small_datasets_have_three_splits(dataset, loaded):
    splits = sorted(loaded[p].data.split for p in PAPER if p.parts[-2] == dataset)
    assert splits == [1, 2, 3]


def test_run_folders_are_unique(loaded):
    out_dirs = [loaded[p].run.out_dir for p in PAPER]
    assert len(out_dirs) == len(set(out_dirs))


def test_docs_list_every_paper_config():
    text = (CONFIGS.parent / "docs" / "configs.md").read_text()
    missing = [rel(p) for p in PAPER if f"configs/{rel(p)}" not in text]
    assert not missing, f"docs/configs.md does not list {missing}"


REALDATA = CONFIGS.parents[1] / "shared" / "realdata" / "annotations"


def _tree(tmp_path: Path, dataset: str) -> None:
    """Lay out the real annotation files the way the dataset's base config expects them."""
    import shutil

    places = {
        "ucf101": [("ucf101_tsn/*.txt", "data/ucf101/UCF-101/ucfTrainTestlist")],
        "hmdb51": [("hmdb51_tsn/*_split1.txt", "data/hmdb51/testTrainMulti_7030_splits")],
        "sthv2": [("ssv2/*.json", "data/sthv2")],
    }[dataset]
    (tmp_path / "data" / dataset).mkdir(parents=True)
    for pattern, folder in places:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        for source in REALDATA.glob(pattern):
            name = source.name.replace(".first50", "")  # the excerpt of the validation list
            shutil.copy(source, tmp_path / folder / name)


@pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is absent")
@pytest.mark.parametrize(
    ("config", "split", "videos", "classes"),
    [
        ("ucf101/f4d_r50_16x2x4_80e_ucf101_split1.yaml", "train", 9537, 101),
        ("ucf101/f4d_r50_16x2x4_80e_ucf101_split1.yaml", "val", 3783, 101),
        ("hmdb51/f4d_r50_16x2x4_80e_hmdb51_split1.yaml", "train", 3570, 51),
        ("hmdb51/f4d_r50_16x2x4_80e_hmdb51_split1.yaml", "val", 1530, 51),
        ("sthv2/f4d_r50_8x4x4_80e_sthv2.yaml", "val", 50, 174),
    ],
)
def test_dataset_paths_find_the_native_files(config, split, videos, classes, tmp_path, monkeypatch):
    """The configs' data.root / list paths, unchanged, find real native annotation files."""
    from f4d.engine.loaders import load_split

    _tree(tmp_path, config.split("/")[0])
    monkeypatch.chdir(tmp_path)  # data.root is relative to the working directory
    data = load_config(CONFIGS / config).data
    Path(data.root).mkdir(parents=True, exist_ok=True)  # the (empty) video folder
    index = load_split(data, split)
    assert (len(index), index.num_classes) == (videos, classes)


@pytest.mark.parametrize("doc", ["docs/configs.md", "README.md"])
def test_docs_name_only_configs_that_exist(doc):
    text = (CONFIGS.parent / doc).read_text()
    named = set(re.findall(r"configs/[\w/.-]+?\.yaml", text))
    assert named, f"{doc} names no config"
    missing = sorted(name for name in named if not (CONFIGS.parent / name).is_file())
    assert not missing, f"{doc} names configs that do not exist: {missing}"


def test_4d_blocks_of_the_paper_configs_train(loaded):
    """With each distinct model.args of the F4D/V4D configs, a 4D block gets gradients.

    (Built on the tiny model of the same family: the args are the block options.)
    """
    import json

    import torch

    from f4d.models import create_model

    variants = {}
    for path in PAPER:
        cfg = loaded[path]
        family = cfg.model.name.split("_")[0]
        if family in ("f4d", "v4d"):
            args = OmegaConf.to_container(cfg.model.args)
            variants[(family, json.dumps(args, sort_keys=True))] = args
    assert variants
    for (family, _), args in variants.items():
        torch.manual_seed(0)
        model = create_model(f"{family}_tiny", num_classes=3, **args)
        model(torch.randn(2, 4, 3, 4, 16, 16)).square().sum().backward()
        grads = [p.grad for n, p in model.named_parameters() if "blocks4d" in n]
        assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), (
            f"{family} 4D blocks get no gradient with model.args={args}"
        )
