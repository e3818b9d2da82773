"""Tests for f4d.engine.predict: top-k from a real checkpoint and video, attention explanations."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from f4d.data.decode import VideoDecodeError, read_frames
from f4d.data.formats import DatasetIndex, VideoRecord
from f4d.data.sampling import sample_segments
from f4d.data.transforms import normalize, resize_frames
from f4d.engine import predict
from f4d.engine.checkpoint import save_checkpoint
from f4d.engine.config import DataConfig
from f4d.engine.distributed import DistInfo
from f4d.engine.evaluate import predict_loader
from f4d.engine.loaders import build_eval_loader
from f4d.models import create_model

CLASSES = ["push left", "push right", "lift", "drop", "spin"]
DATA = {"units": 2, "frames": 4, "stride": 2, "size": 32, "scale_size": 36}


def make_video(path: Path, *, frames: int = 24, height: int = 40, width: int = 48) -> Path:
    """Write an mp4 of a bright square moving right over a gradient, ``frames`` long."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        base = np.linspace(0, 120, width, dtype=np.uint8)[None, :, None].repeat(height, 0)
        for i in range(frames):
            image = np.repeat(base, 3, axis=2).copy()
            left = (i * 2) % (width - 10)
            image[15:25, left : left + 10] = (250, 200, 40)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def make_checkpoint(folder: Path, model_name: str = "f4d_tiny") -> Path:
    """Save an untrained (seeded) tiny model through the real checkpoint API."""
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=len(CLASSES))
    return save_checkpoint(
        folder, model=model, optimizer=None, scheduler=None, scaler=None, epoch=1, step=10,
        best_metric=None, config={"data": DATA}, classes=CLASSES, tag="best",
    )  # fmt: skip


def make_run(folder: Path, model_name: str = "f4d_tiny") -> Path:
    """A run folder as `f4d train` leaves it: config.yaml + checkpoints/best.*; returns weights."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml({"data": DATA}))
    return make_checkpoint(folder / "checkpoints", model_name)


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("predict")
    return {
        "video": make_video(root / "clip.mp4"),
        "f4d": make_run(root / "f4d"),
        "tsn": make_run(root / "tsn", "tsn_tiny"),
    }


@pytest.fixture(scope="module")
def predictor(assets) -> predict.Predictor:
    return predict.load_predictor(assets["f4d"])


def test_settings_come_from_the_training_config(predictor):
    assert predictor.settings == predict.ClipSettings(**DATA)
    assert predictor.classes == CLASSES
    assert not predictor.model.training


def test_settings_are_read_from_the_checkpoint_state(tmp_path):
    weights = make_checkpoint(tmp_path)  # no config.yaml anywhere near
    loaded = predict.load_predictor(weights)
    assert loaded.settings_source == str(tmp_path / "best.state.pt")
    assert loaded.settings == predict.ClipSettings(**DATA)


def test_settings_fall_back_to_the_run_config_yaml(tmp_path):
    run = tmp_path / "run"
    weights = make_checkpoint(run / "checkpoints")
    weights.with_name("best.state.pt").unlink()
    (run / "config.yaml").write_text("data:\n  units: 3\n  frames: 2\n  size: 48\n")
    loaded = predict.load_predictor(run)  # a run folder resolves to checkpoints/best
    assert loaded.settings == predict.ClipSettings(units=3, frames=2, size=48)
    assert loaded.settings_source == str(run / "config.yaml")


def test_units_and_frames_can_be_overridden(assets):
    loaded = predict.load_predictor(assets["f4d"], units=3, frames=2)
    clip = predict.load_clip(assets["video"], loaded.settings)
    assert clip.shape == (1, 3, 3, 2, 32, 32) and clip.dtype == torch.uint8


def test_load_clip_is_the_centre_view(assets, predictor):
    clip = predict.load_clip(assets["video"], predictor.settings)
    assert clip.shape == (1, 2, 3, 4, 32, 32)  # (V, U, C, T, size, size)
    # 16 sampled frames differ: the square moves between them.
    frames = clip[0].permute(0, 2, 1, 3, 4).reshape(8, -1).float()
    assert torch.unique(frames, dim=0).shape[0] == 8


def test_predict_returns_k_sorted_classes(assets, predictor):
    result = predict.predict_video(predictor, assets["video"], topk=3)
    assert result.video == str(assets["video"])
    probs = [p for _, _, p in result.topk]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True)
    assert 0.0 < sum(probs) <= 1.0 + 1e-6
    assert all(CLASSES[i] == name for i, name, _ in result.topk)


def test_all_classes_sum_to_one_and_match_the_model(assets, predictor):
    result = predict.predict_video(predictor, assets["video"], topk=10)
    assert len(result.topk) == len(CLASSES)
    assert sum(p for _, _, p in result.topk) == pytest.approx(1.0, abs=1e-5)
    clip = predict.load_clip(assets["video"], predictor.settings)
    with torch.no_grad():
        x = (clip.float() / 255 - torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1, 1)) / (
            torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1, 1)
        )
        expected = predictor.model(x).softmax(-1)[0]
    for index, _, prob in result.topk:
        assert prob == pytest.approx(float(expected[index]), abs=1e-6)


def test_frame_folder_predicts_like_its_video(assets, predictor, tmp_path):
    """A Something-Something v1 style folder of the same frames gives the same clip."""
    with av.open(str(assets["video"])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    folder = tmp_path / "100218"
    folder.mkdir()
    for i, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    from_folder = predict.load_clip(folder, predictor.settings)
    assert torch.equal(from_folder, predict.load_clip(assets["video"], predictor.settings))
    assert len(predict.predict_video(predictor, folder, topk=2).topk) == 2


def test_bad_video_names_the_file(tmp_path, predictor):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(VideoDecodeError, match=r"broken\.mp4"):
        predict.predict_video(predictor, bad)


def test_explain_writes_ta_plot_and_sta_overlays(assets, predictor, tmp_path):
    result = predict.predict_video(predictor, assets["video"], topk=2, explain_dir=tmp_path)
    names = sorted(p.name for p in result.explain)
    assert names == ["explain.json", "sta_0.gif", "sta_0.png", "ta.png"]
    with Image.open(tmp_path / "sta_0.gif") as gif:
        assert gif.n_frames == 2 * 4  # U·T sampled frames
        assert gif.size == (32, 32 + 2)  # frame + progress bar
    with Image.open(tmp_path / "sta_0.png") as grid:
        assert grid.size == (4 * 34 - 2, 2 * 34 - 2)  # T columns x U rows, 2 px gaps
    with Image.open(tmp_path / "ta.png") as plot:
        assert plot.width > 300 and (tmp_path / "ta.png").stat().st_size > 5000
    summary = json.loads((tmp_path / "explain.json").read_text())
    ta = np.array(summary["ta"])
    assert ta.shape == (1, 2, 4)  # one TA module, (U, T') = (2, 4) at conv4 of f4d_tiny
    assert ((ta > 0) & (ta < 1)).all()  # sigmoid weights
    ta_modules, sta_modules = predict.attention_modules(predictor.model)
    assert not any(m.record for m in ta_modules + sta_modules)  # switched off again


def test_explained_ta_weights_are_the_recorded_map(assets, predictor, tmp_path):
    predict.predict_video(predictor, assets["video"], explain_dir=tmp_path)
    (module,), _ = predict.attention_modules(predictor.model)
    recorded = module.last_map[0, 0, :, :, 0, 0].numpy()
    saved = np.array(json.loads((tmp_path / "explain.json").read_text())["ta"][0])
    np.testing.assert_allclose(saved, recorded, rtol=1e-6)


def test_explain_without_attention_says_so(assets, tmp_path):
    tsn = predict.load_predictor(assets["tsn"])
    assert predict.attention_modules(tsn.model) == ([], [])
    with pytest.raises(ValueError, match=r"no TemporalAttention \(TA\) or SpatioTemporal"):
        predict.predict_video(tsn, assets["video"], explain_dir=tmp_path)


def test_explain_dirs_are_unique_per_video():
    dirs = predict.explain_dirs(["a/x.mp4", "b/x.mp4", "c/y.avi"], "out")
    assert [d.as_posix() for d in dirs] == ["out/00_x", "out/01_x", "out/y"]


# --------------------------------------------------------------------------- multi-view


def _logits(model: torch.nn.Module, view: torch.Tensor) -> torch.Tensor:
    """Logits ``(K,)`` of one uint8 view ``(U, C, T, h, w)``, normalised with ImageNet stats."""
    with torch.no_grad():
        return model(normalize(view[None]))[0].float()


def _hand_crops(video: Path, settings: predict.ClipSettings) -> list[torch.Tensor]:
    """The clip's left/centre/right 36-px squares of the 36x43 frames, each ``(U, C, T, 32, 32)``,
    cut here by hand (the 40x48 test video: short side 40 -> 36, long side 48*36/40 -> 43)."""
    units, frames = settings.units, settings.frames
    indices = sample_segments(24, units, frames, settings.stride, mode="test")
    decoded = torch.from_numpy(read_frames(video, indices)).permute(0, 3, 1, 2)  # (U·T, 3, H, W)
    scaled = resize_frames(decoded, (36, 43))
    crops = []
    for left in (0, (43 - 36) // 2, 43 - 36):
        square = resize_frames(scaled[:, :, :, left : left + 36], (32, 32))  # (U·T, 3, 32, 32)
        crops.append(square.reshape(units, frames, 3, 32, 32).permute(0, 2, 1, 3, 4))
    return crops


def test_three_crops_average_the_logits_of_three_hand_cut_crops(assets, predictor):
    settings = predict.view_settings(predictor.settings, predictor.data, crops=3)
    assert (settings.views, settings.units, settings.crops, settings.crop_size) == (
        "single",
        2,
        3,
        36,
    )
    crops = _hand_crops(assets["video"], settings)
    clip = predict.load_clip(assets["video"], settings)
    assert clip.shape == (3, 2, 3, 4, 32, 32)
    for view, crop in zip(clip, crops):
        assert torch.equal(view, crop)
    logits = torch.stack([_logits(predictor.model, crop) for crop in crops])  # (3, K)
    assert (logits[0] - logits[2]).abs().max() > 1e-4  # the crops see different pixels
    expected = logits.mean(dim=0).softmax(dim=-1)
    result = predict.predict_video(predictor, assets["video"], topk=len(CLASSES), crops=3)
    assert [i for i, _, _ in result.topk] == expected.argsort(descending=True).tolist()
    for index, _, prob in result.topk:
        assert prob == pytest.approx(float(expected[index]), abs=1e-6)


def test_results_say_how_many_views_were_averaged(assets, predictor):
    single = predict.predict_video(predictor, assets["video"], topk=2)
    assert (single.views, single.units, single.crops, single.num_views) == ("single", 2, 1, 1)
    multi = predict.predict_video(predictor, assets["video"], topk=2, views="multi", units=3)
    record = multi.to_dict()
    assert {k: record[k] for k in ("views", "units", "crops", "num_views")} == {
        "views": "multi",
        "units": 3,
        "crops": 3,
        "num_views": 3,
    }
    table = predict.predictions_table([single, multi]).splitlines()
    assert table[0].endswith("(1 view: single, U=2 x 1 crop)")
    assert table[4].endswith("(3 views: multi, U=3 x 3 crops)")
    assert predictor.settings.crops == 1  # the call's options did not change the predictor


def test_multi_view_counts_come_from_the_config_test_keys(tmp_path):
    run = tmp_path / "run"
    make_checkpoint(run / "checkpoints").with_name("best.state.pt").unlink()
    (run / "config.yaml").write_text(
        OmegaConf.to_yaml({"data": {**DATA, "test_units": 5, "test_crops": 1}})
    )
    multi = predict.load_predictor(run, views="multi")
    assert (multi.settings.units, multi.settings.crops, multi.settings.crop_size) == (5, 1, 36)
    flags = predict.load_predictor(run, views="multi", units=6, crops=3)  # flags win
    assert (flags.settings.units, flags.settings.crops) == (6, 3)
    single = predict.load_predictor(run)
    assert (single.settings.units, single.settings.crops, single.settings.crop_size) == (2, 1, 32)


def test_multi_view_defaults_are_the_papers_without_test_keys(predictor):
    settings = predict.view_settings(predictor.settings, {}, views="multi")  # DATA has none
    assert (settings.units, settings.crops, settings.frames, settings.size) == (10, 3, 4, 32)


@pytest.mark.parametrize("views", ["multi", "single"])
def test_prediction_matches_the_f4d_test_evaluation_path(assets, predictor, views):
    """The probabilities are softmax of the logits `f4d test` computes for the same video."""
    cfg = OmegaConf.create({"data": OmegaConf.structured(DataConfig)})
    cfg.data = OmegaConf.merge(cfg.data, {**DATA, "test_units": 3, "workers": 0})
    index = DatasetIndex([VideoRecord(assets["video"], 0)], CLASSES)
    loader = build_eval_loader(cfg.data, index, views=views, batch_size=1)
    _, logits = predict_loader(predictor.model, loader, cfg=cfg, info=DistInfo())
    expected = torch.from_numpy(logits[0]).softmax(dim=-1)
    result = predict.predict_video(
        predictor,
        assets["video"],
        topk=len(CLASSES),
        views=views,
        units=3 if views == "multi" else None,
    )
    assert result.num_views == (3 if views == "multi" else 1)
    assert [i for i, _, _ in result.topk] == expected.argsort(descending=True).tolist()
    for index_, _, prob in result.topk:
        assert prob == pytest.approx(float(expected[index_]), abs=1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"crops": 2}, r"crops must be 1 \(centre\) or 3 .*got 2"),
        ({"units": 0}, r"units must be >= 1, got 0"),
        ({"views": "triple"}, r"views must be one of single, multi; got 'triple'"),
    ],
)
def test_bad_view_options_are_named(assets, predictor, options, message):
    with pytest.raises(ValueError, match=message):
        predict.predict_video(predictor, assets["video"], **options)


def test_explain_with_three_crops_draws_the_centre_crop(assets, predictor, tmp_path):
    result = predict.predict_video(predictor, assets["video"], crops=3, explain_dir=tmp_path)
    assert result.num_views == 3
    assert result.topk == predict.predict_video(predictor, assets["video"], crops=3).topk
    (module,), _ = predict.attention_modules(predictor.model)
    assert module.last_map.shape[0] == 1  # only one view was recorded
    saved = np.array(json.loads((tmp_path / "explain.json").read_text())["ta"][0])
    centre = _hand_crops(assets["video"], replace(predictor.settings, crops=3))[1]
    with predict.recording(predictor.model):
        _logits(predictor.model, centre)
    np.testing.assert_allclose(saved, module.last_map[0, 0, :, :, 0, 0].numpy(), rtol=1e-6)


def _count_opens(monkeypatch) -> list[str]:
    """Record the path of every ``av.open`` from now on."""
    opened: list[str] = []
    original = av.open

    def counting(file, *args, **kwargs):
        opened.append(str(file))
        return original(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    return opened


@pytest.mark.parametrize("allow_truncated", [False, True])
def test_predict_opens_each_video_once(assets, predictor, monkeypatch, allow_truncated):
    opened = _count_opens(monkeypatch)
    result = predict.predict_video(predictor, assets["video"], allow_truncated=allow_truncated)
    assert opened == [str(assets["video"])] and len(result.topk) == 5


def test_predict_opens_a_truncated_video_once(predictor, monkeypatch, tmp_path):
    from tests.data.clips import cut_copy, write_clip

    cut = cut_copy(write_clip(tmp_path / "whole.mp4", "libx264", frames=24,
                              movflags="faststart"), 0.6)  # fmt: skip
    opened = _count_opens(monkeypatch)
    result = predict.predict_video(predictor, cut, allow_truncated=True)
    assert opened == [str(cut)] and result.truncated.startswith("truncated")
