"""VideoDataset, collate, the skip policy and the loader, with a fake decoder and real videos."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from f4d.data.dataset import (
    BadVideo,
    SkipCounter,
    TooManyBadVideos,
    VideoDataset,
    build_loader,
    collate,
)
from f4d.data.formats import DatasetIndex, VideoRecord
from f4d.data.sampling import sample_segments
from f4d.data.transforms import TestTransform, TrainTransform
from f4d.data.video import VideoDecodeError, probe

FRAME_COUNTS = {"a.mp4": 40, "b.mp4": 25, "c.mp4": 64, "d.mp4": 33, "e.mp4": 50, "f.mp4": 19}


def _fake_prober(path: Path) -> SimpleNamespace:
    if path.name not in FRAME_COUNTS:
        raise VideoDecodeError(path, "no such file")
    return SimpleNamespace(num_frames=FRAME_COUNTS[path.name])


def _fake_reader(path: Path, indices: np.ndarray) -> np.ndarray:
    """Frame ``i`` of every video is a flat 8x8 image of value ``i``."""
    indices = np.asarray(indices)
    return np.broadcast_to(indices[:, None, None, None], (len(indices), 8, 8, 3)).astype(np.uint8)


def _index(names=tuple(FRAME_COUNTS), unit_labels=False) -> DatasetIndex:
    records = [
        VideoRecord(Path("/data") / n, i % 3, unit_labels=(i, i + 1) if unit_labels else None)
        for i, n in enumerate(names)
    ]
    return DatasetIndex(records, ("x", "y", "z"))


def _dataset(index=None, mode="train", transform=None, **kwargs) -> VideoDataset:
    transform = transform or TrainTransform(size=8, scales=(1.0,))
    return VideoDataset(
        index or _index(), units=2, frames_per_unit=3, stride=2, mode=mode,
        transform=transform, reader=_fake_reader, prober=_fake_prober, **kwargs,
    )  # fmt: skip


def _decoded_indices(video: torch.Tensor) -> np.ndarray:
    return video[0, :, 0, :, 0, 0].numpy().astype(np.int64)  # (U, T) of view 0


def test_sample_joins_sampling_decoding_and_transform():
    ds = _dataset(seed=5)
    sample = ds[2]
    assert sample["video"].shape == (1, 2, 3, 3, 8, 8) and sample["video"].dtype == torch.uint8
    assert (sample["label"], sample["index"]) == (2, 2)
    expected = sample_segments(64, 2, 3, 2, "train", np.random.default_rng([5, 0, 2]))
    assert np.array_equal(_decoded_indices(sample["video"]), expected)


def test_test_mode_uses_centred_snippets_and_all_views():
    ds = _dataset(mode="test", transform=TestTransform(size=8, scale_size=8))
    sample = ds[0]
    assert sample["video"].shape == (3, 2, 3, 3, 8, 8)
    assert np.array_equal(_decoded_indices(sample["video"]), sample_segments(40, 2, 3, 2, "test"))


def test_rng_depends_on_seed_epoch_and_index_only():
    ds = _dataset(seed=1)
    first = [_decoded_indices(ds[i]["video"]) for i in range(6)]
    backwards = [_decoded_indices(ds[i]["video"]) for i in reversed(range(6))][::-1]
    assert all(np.array_equal(a, b) for a, b in zip(first, backwards))
    ds.set_epoch(1)
    epoch1 = [_decoded_indices(ds[i]["video"]) for i in range(6)]
    assert any(not np.array_equal(a, b) for a, b in zip(first, epoch1))
    other_seed = [_decoded_indices(_dataset(seed=2)[i]["video"]) for i in range(6)]
    assert any(not np.array_equal(a, b) for a, b in zip(first, other_seed))


def test_unit_labels_are_returned_and_collated():
    batch = collate([_dataset(_index(unit_labels=True))[i] for i in (1, 4)])
    assert batch["unit_labels"].tolist() == [[1, 2], [4, 5]]


def test_bad_video_becomes_a_marker_with_a_warning(caplog):
    ds = _dataset(_index(("a.mp4", "missing.mp4")))
    with caplog.at_level(logging.WARNING, logger="f4d.data.dataset"):
        bad = ds[1]
    assert bad == BadVideo(1, "/data/missing.mp4", bad.reason)
    assert "VideoDecodeError" in bad.reason and "no such file" in bad.reason
    assert "skipping bad video /data/missing.mp4" in caplog.text
    strict = _dataset(_index(("a.mp4", "missing.mp4")), skip_bad=False)
    with pytest.raises(VideoDecodeError, match=r"missing\.mp4"):
        strict[1]


def test_decoder_returning_too_few_frames_is_a_bad_video():
    ds = _dataset()
    ds.reader = lambda path, indices: _fake_reader(path, indices)[:-1]
    bad = ds[0]
    assert isinstance(bad, BadVideo) and "ShortVideoError" in bad.reason


def test_collate_shapes_row_order_and_skips():
    ds = _dataset(
        _index(("a.mp4", "nope.mp4", "c.mp4")),
        mode="test",
        transform=TestTransform(size=4, scale_size=8),
    )
    batch = collate([ds[0], ds[1], ds[2]])
    assert batch["video"].shape == (2 * 3, 2, 3, 3, 4, 4) and batch["num_views"] == 3
    assert batch["label"].tolist() == [0, 2] and batch["index"].tolist() == [0, 2]
    assert (batch["skipped"], batch["skipped_paths"]) == (1, ["/data/nope.mp4"])
    assert torch.equal(batch["video"][3], ds[2]["video"][0])  # row b·V + v
    assert "unit_labels" not in batch


def test_all_bad_batch_is_empty_but_counted():
    ds = _dataset(_index(("x.mp4", "y.mp4")))
    batch = collate([ds[0], ds[1]])
    assert batch["video"].shape == (0, 0, 0, 0, 0, 0) and batch["label"].shape == (0,)
    assert batch["skipped"] == 2 and batch["num_views"] == 0


def _skips(*paths: str) -> dict:
    return {"skipped": len(paths), "skipped_paths": list(paths),
            "skipped_reasons": [f"broken {p}" for p in paths]}  # fmt: skip


def test_skip_counter_counts_distinct_videos_and_stops_with_a_table():
    counter = SkipCounter(2)
    counter.update(_skips("/v/a.mp4"))
    counter.update(_skips("/v/a.mp4", "/v/b.mp4"))  # a again (next epoch): still 2 distinct
    assert (counter.count, counter.total) == (2, 3)
    with pytest.raises(TooManyBadVideos, match=r"3 bad videos exceed the limit of 2") as err:
        counter.update(_skips("/v/c.mp4"))
    assert "/v/c.mp4 | broken /v/c.mp4" in str(err.value)


def test_skip_counter_fraction_of_dataset():
    counter = SkipCounter(0.25, dataset_size=8)  # at most 2 of 8
    counter.update(_skips("/1", "/2"))
    with pytest.raises(TooManyBadVideos):
        counter.update(_skips("/3"))
    with pytest.raises(ValueError, match="fractional max_skipped"):
        SkipCounter(0.5)
    with pytest.raises(ValueError, match="max_skipped must be an int >= 0"):
        SkipCounter(-1)


def _loader_batches(ds: VideoDataset, workers: int, epochs: int) -> list[list[np.ndarray]]:
    loader = build_loader(ds, batch_size=2, shuffle=True, num_workers=workers, seed=3)
    out = []
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        out.append([b["video"].numpy().copy() for b in loader])
    return out


def test_loader_is_reproducible_regardless_of_workers():
    serial = _loader_batches(_dataset(seed=9), workers=0, epochs=2)
    parallel = _loader_batches(_dataset(seed=9), workers=2, epochs=2)  # persistent workers
    assert len(serial[0]) == 3
    for a_epoch, b_epoch in zip(serial, parallel):
        assert all(np.array_equal(a, b) for a, b in zip(a_epoch, b_epoch))
    assert any(not np.array_equal(a, b) for a, b in zip(serial[0], serial[1]))


def test_loader_rejects_shuffle_with_sampler():
    ds = _dataset()
    with pytest.raises(ValueError, match="shuffle=False with a sampler"):
        build_loader(ds, batch_size=2, shuffle=True, num_workers=0, sampler=range(6))


def test_real_videos_decode_and_corrupt_file_is_skipped(realdata):
    videos = realdata / "videos"
    names = ["mmaction2_test.mp4", "mmaction2_test.avi", "human2bot_task5_0.webm",
             "decord_video_0.mov", "decord_corrupted.mp4"]  # fmt: skip
    index = DatasetIndex([VideoRecord(videos / n, i) for i, n in enumerate(names)], tuple(names))
    ds = VideoDataset(
        index, units=2, frames_per_unit=2, stride=2, mode="test",
        transform=TestTransform(size=32, scale_size=48, num_crops=1),
    )  # fmt: skip
    batch = collate([ds[i] for i in range(len(ds))])
    assert batch["video"].shape == (4, 2, 3, 2, 32, 32)
    assert batch["label"].tolist() == [0, 1, 2, 3]
    assert batch["skipped_paths"] == [str(videos / "decord_corrupted.mp4")]
    assert "truncated" in batch["skipped_reasons"][0]
    assert batch["video"].float().std() > 10  # real picture content, not blank frames


def test_synthetic_dataset_end_to_end(tmp_path):
    from f4d.data.formats import load_index
    from f4d.data.synthetic import generate

    generate(tmp_path, num_train=4, num_test=1, size=32, frames=16, seed=0)
    index = load_index("csv", tmp_path, split="train", check_files=True)
    assert len(index) == 4 and index.num_classes == 12
    ds = VideoDataset(
        index, units=4, frames_per_unit=2, stride=2, mode="train", transform=TrainTransform(size=16)
    )
    batch = collate([ds[i] for i in range(4)])
    assert batch["video"].shape == (4, 4, 3, 2, 16, 16) and batch["skipped"] == 0
    assert batch["unit_labels"].shape == (4, 4)
    assert sorted(batch["unit_labels"][0].tolist()) == [0, 1, 2, 3]  # a permutation of events


def test_default_workers_fill_this_process_share_of_the_cores(monkeypatch):
    import f4d.data.dataset as dataset_module

    monkeypatch.setattr(dataset_module, "available_cores", lambda: 2)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert dataset_module.default_workers() == 1  # one core stays with the training process
    monkeypatch.setattr(dataset_module, "available_cores", lambda: 16)
    assert dataset_module.default_workers() == 15
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # 8 GPUs, 2 cores each
    assert dataset_module.default_workers() == 1
    assert dataset_module.default_workers(local_processes=2) == 7
    loader = build_loader(_dataset(), batch_size=2, shuffle=False, num_workers=None)
    assert loader.num_workers == 1


def test_truncated_file_is_a_bad_video_unless_allowed(tmp_path, caplog):
    """Default: skipped and named like any bad video. allow_truncated: sampled from the part
    that decodes, said once per file (by the skip counter, in the main process)."""
    from tests.data.clips import cut_copy, write_clip

    whole = write_clip(tmp_path / "whole.mkv", "libx264", frames=20)
    cut = cut_copy(whole, 0.5)
    index = DatasetIndex([VideoRecord(whole, 0), VideoRecord(cut, 1)], ("a", "b"))
    kwargs = {"units": 2, "frames_per_unit": 2, "stride": 1, "mode": "test",
              "transform": TestTransform(size=16, scale_size=16, num_crops=1)}  # fmt: skip
    batch = collate([VideoDataset(index, **kwargs)[i] for i in range(2)])
    assert batch["skipped_paths"] == [str(cut)] and batch["truncated_paths"] == []
    assert "TruncatedVideoError" in batch["skipped_reasons"][0]
    assert "truncated: holds" in batch["skipped_reasons"][0]

    lenient = VideoDataset(index, allow_truncated=True, **kwargs)
    decodable = probe(cut, allow_truncated=True).num_frames
    assert 0 < decodable < 20
    batch = collate([lenient[i] for i in range(2)])
    assert batch["skipped"] == 0 and batch["label"].tolist() == [0, 1]
    assert batch["truncated_paths"] == [str(cut)]
    assert re.match(
        r"truncated: (holds|decodes) \d\.\d\d s of a declared 2\.00 s",
        batch["truncated_reasons"][0],
    )
    sampled = sample_segments(decodable, 2, 2, 1, "test")  # (U, T): inside the decodable part
    red = batch["video"][1, :, 0, :, 0, 0].float()  # (U, T) red of view 0, top-left pixel
    np.testing.assert_allclose(red.numpy(), 20 * sampled, atol=10)
    counter = SkipCounter(0)
    with caplog.at_level(logging.WARNING, logger="f4d.data.dataset"):
        counter.update(batch)
        counter.update(batch)  # the next epoch: not said again
    said = [r.getMessage() for r in caplog.records if "decodable part" in r.getMessage()]
    assert len(said) == 1 and str(cut) in said[0]
    assert counter.count == 0 and list(counter.truncated) == [str(cut)]
