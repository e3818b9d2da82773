"""Train/test transforms: crop boxes against hand-worked values, flips, crop coverage, shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from f4d.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TestTransform,
    TrainTransform,
    build_transform,
    crop_offsets,
    crop_sizes,
    normalize,
    resize_frames,
    resize_short_side,
    sample_crop_box,
    three_crop_boxes,
)


def _clip(units: int, frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(units, frames, height, width, 3), dtype=np.uint8)


def test_crop_sizes_hand_worked_for_320x240():
    # short side 240 -> sides int(240 * s) = 240, 210, 180, 158; scale indices at most 1 apart.
    assert crop_sizes(240, 320) == [
        (240, 240), (240, 210), (210, 240), (210, 210), (210, 180),
        (180, 210), (180, 180), (180, 158), (158, 180), (158, 158),
    ]  # fmt: skip
    assert len(crop_sizes(240, 320, max_distort=0)) == 4


def test_crop_offsets_hand_worked():
    # frame 240x320, crop 180x210: free space 60 x 110 -> quarter steps 15 and 27.
    offsets = crop_offsets(240, 320, 180, 210)
    assert offsets[:5] == [(30, 54), (0, 0), (0, 108), (60, 0), (60, 108)]
    assert offsets[5:] == [(0, 54), (60, 54), (30, 0), (30, 108),
                           (15, 27), (15, 81), (45, 27), (45, 81)]  # fmt: skip


def test_sampled_boxes_are_candidates_and_all_candidates_occur():
    rng = np.random.default_rng(1)
    boxes = {sample_crop_box(240, 320, rng) for _ in range(3000)}
    expected = {
        (top, left, h, w)
        for h, w in crop_sizes(240, 320)
        for top, left in crop_offsets(240, 320, h, w)
    }
    assert boxes == expected  # 10 sizes x 13 positions, all inside the frame
    assert all(t + h <= 240 and l + w <= 320 for t, l, h, w in boxes)


def test_train_transform_shape_dtype_and_reproducible():
    clip = _clip(units=3, frames=2, height=40, width=48)
    transform = TrainTransform(size=32)
    video, label = transform(clip, 5, np.random.default_rng(7))
    assert video.shape == (1, 3, 3, 2, 32, 32) and video.dtype == torch.uint8
    assert label == 5
    again, _ = transform(torch.from_numpy(clip), 5, np.random.default_rng(7))
    assert torch.equal(video, again)


def test_train_transform_same_crop_for_every_frame_of_every_unit():
    frame = _clip(1, 1, 40, 48)[0, 0]
    clip = np.broadcast_to(frame, (3, 4, 40, 48, 3)).copy()
    for seed in range(5):
        video, _ = TrainTransform(size=24)(clip, 0, np.random.default_rng(seed))
        first = video[0, 0, :, 0]
        assert all(torch.equal(video[0, u, :, t], first) for u in range(3) for t in range(4))


def test_flip_swaps_labels_through_the_map_exactly_when_flipped():
    clip = _clip(2, 2, 16, 16)
    as_units = torch.from_numpy(clip).permute(0, 4, 1, 2, 3)  # (U, C, T, H, W)
    transform = TrainTransform(size=16, scales=(1.0,), flip=True, flip_label_map={3: 4, 4: 3})
    flipped = 0
    for seed in range(40):
        video, label = transform(clip, 3, np.random.default_rng(seed))
        if torch.equal(video[0], as_units.flip(-1)):
            flipped += 1
            assert label == 4
        else:
            assert torch.equal(video[0], as_units) and label == 3
    assert 10 < flipped < 30
    _, other = TrainTransform(size=16, scales=(1.0,), flip=True, flip_label_map={3: 4})(
        clip, 9, np.random.default_rng(0)
    )
    assert other == 9  # labels outside the map keep their value


def test_flip_map_without_flip_is_an_error():
    with pytest.raises(ValueError, match="flip_label_map given but flip=False"):
        TrainTransform(flip_label_map={0: 1})


def test_resize_short_side_and_three_crops_hand_worked():
    assert resize_short_side(240, 320, 256) == (256, 341)
    assert resize_short_side(320, 240, 256) == (341, 256)
    assert three_crop_boxes(256, 341, 256) == [(0, 0, 256, 256), (0, 42, 256, 256),
                                               (0, 85, 256, 256)]  # fmt: skip
    assert three_crop_boxes(341, 256, 256) == [(0, 0, 256, 256), (42, 0, 256, 256),
                                               (85, 0, 256, 256)]  # fmt: skip


@pytest.mark.parametrize(("height", "width"), [(256, 341), (341, 256), (256, 700), (256, 256)])
def test_three_crops_cover_the_whole_frame(height, width):
    covered = np.zeros((height, width), dtype=bool)
    for top, left, h, w in three_crop_boxes(height, width, 256):
        covered[top : top + h, left : left + w] = True
    assert covered.all()


def test_test_transform_crops_hand_worked_content():
    # 256x512 frame whose pixel value is column // 2: crops start at columns 0, 128, 256.
    row = (np.arange(512) // 2).astype(np.uint8)
    clip = np.broadcast_to(row[None, None, None, :, None], (2, 3, 256, 512, 3)).copy()
    video, label = TestTransform(size=256, scale_size=256)(clip, 1)
    assert video.shape == (3, 2, 3, 3, 256, 256) and label == 1
    assert video[:, 0, 0, 0, 0, 0].tolist() == [0, 64, 128]
    assert video[:, 1, 2, 2, 10, 255].tolist() == [127, 191, 255]


def test_test_transform_shapes_and_single_centre_crop():
    clip = _clip(units=2, frames=3, height=30, width=40)
    three, _ = TestTransform(size=16, scale_size=20)(clip, 0)
    assert three.shape == (3, 2, 3, 3, 16, 16) and three.dtype == torch.uint8
    one, _ = build_transform("test", size=16, scale_size=20, num_crops=1)(clip, 0)
    assert one.shape == (1, 2, 3, 3, 16, 16)
    assert torch.equal(one[0], three[1])  # the centre crop is the middle of the three
    with pytest.raises(ValueError, match="num_crops must be 1 or 3, got 2"):
        TestTransform(num_crops=2)


def test_resize_keeps_a_flat_image_flat():
    frames = torch.full((2, 3, 30, 50), 77, dtype=torch.uint8)
    out = resize_frames(frames, (11, 13))
    assert out.shape == (2, 3, 11, 13) and out.dtype == torch.uint8
    assert torch.equal(out, torch.full_like(out, 77))


def test_normalize_values_and_channel_dim():
    video = torch.zeros(2, 4, 3, 2, 5, 5, dtype=torch.uint8)  # (B, U, C, T, H, W)
    video[:, :, 1] = 255
    out = normalize(video)
    assert out.dtype == torch.float32 and out.shape == video.shape
    assert out[0, 0, 0, 0, 0, 0].item() == pytest.approx(-IMAGENET_MEAN[0] / IMAGENET_STD[0])
    assert out[1, 3, 1, 1, 4, 4].item() == pytest.approx((1 - IMAGENET_MEAN[1]) / IMAGENET_STD[1])
    with pytest.raises(ValueError, match="C=3 channels"):
        normalize(torch.zeros(2, 4, 2, 5, 5, dtype=torch.uint8))


def test_bad_clip_and_mode_errors():
    with pytest.raises(ValueError, match=r"expected a uint8 clip \(U, T, H, W, 3\)"):
        TrainTransform(size=8)(np.zeros((2, 8, 8, 3), np.uint8), 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown transform mode 'val'; valid: train, test"):
        build_transform("val")


def _triangle_weights(size_in: int, size_out: int) -> np.ndarray:
    """``(size_out, size_in)`` float64 weights of the antialiased bilinear (triangle) filter:
    support widened by the downscale factor, centres at ``(i + 0.5) * scale``, rows summing
    to 1 (the PIL / ``antialias=True`` definition)."""
    scale = size_in / size_out
    support = max(scale, 1.0)
    centres = (np.arange(size_out) + 0.5) * scale
    taps = np.arange(size_in) + 0.5
    weights = np.clip(1 - np.abs(taps[None, :] - centres[:, None]) / support, 0, None)
    return weights / weights.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("height", "width", "size"), [(240, 427, (224, 224)), (158, 180, (224, 224)), (9, 7, (4, 11))]
)
def test_uint8_resize_is_within_one_level_of_a_float64_reference(height, width, size):
    frames = torch.from_numpy(
        np.random.default_rng(0).integers(0, 256, size=(3, height, width, 3), dtype=np.uint8)
    ).permute(0, 3, 1, 2)  # channels-last, as _as_frames gives
    out = resize_frames(frames, size)
    rows, cols = _triangle_weights(height, size[0]), _triangle_weights(width, size[1])
    ref = rows @ frames.numpy().astype(np.float64) @ cols.T  # (N, C, h, w)
    diff = np.abs(out.numpy().astype(np.float64) - np.clip(np.round(ref), 0, 255))
    assert out.dtype == torch.uint8 and out.shape == (3, 3, *size)
    assert diff.max() <= 1
