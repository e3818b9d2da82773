"""TA, CA, STA (eqns 4-12), SE and CBAM: shapes, the equations by hand, recorded maps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from f4d.nn import (
    CBAM3d,
    ChannelAttention,
    SpatioTemporalAttention,
    SqueezeExcitation3d,
    TemporalAttention,
)


def _two_path(x, paths, conv):
    return sum(conv(x, p.weight, p.bias, padding=p.padding, dilation=p.dilation) for p in paths)


def test_temporal_attention_follows_eqns_4_to_6():
    ta = TemporalAttention().double()
    ta.record = True
    x = torch.randn(2, 5, 3, 4, 3, 3, dtype=torch.float64)  # (B, C, U, T, H, W)
    descriptor = x.mean(dim=(1, 4, 5)) + x.amax(dim=(1, 4, 5))  # (B, U, T), eqn 5
    seq = descriptor.reshape(2, 1, 12)  # frames in order u·T + t
    paths = ta.conv.paths
    assert [p.dilation for p in paths] == [(2,), (3,)]
    expected_map = torch.sigmoid(_two_path(seq, paths, F.conv1d)).view(2, 1, 3, 4, 1, 1)
    out = ta(x)
    torch.testing.assert_close(ta.last_map, expected_map)
    torch.testing.assert_close(out, x * expected_map + x)


def test_temporal_attention_map_crosses_action_units():
    ta = TemporalAttention()
    ta.record = True
    x = torch.randn(1, 2, 3, 4, 2, 2)
    ta(x)
    before = ta.last_map.clone()
    x[:, :, 0, 3] += 5.0  # last frame of unit 0 (flat frame 3)
    ta(x)
    changed = (ta.last_map - before).abs().flatten() > 0  # flat frame order u·T + t
    # taps at offsets 0, ±2 (dilation 2) and 0, ±3 (dilation 3): frames 0, 1, 3, 5, 6 of which
    # 5 and 6 belong to unit 1 -- the map links neighbouring action units.
    assert torch.nonzero(changed).flatten().tolist() == [0, 1, 3, 5, 6]


def test_temporal_attention_records_only_when_asked():
    ta = TemporalAttention()
    ta(torch.randn(1, 2, 2, 3, 2, 2))
    assert ta.last_map is None
    ta.record = True
    ta(torch.randn(3, 2, 5, 3, 2, 2))
    assert ta.last_map.shape == (3, 1, 5, 3, 1, 1)
    assert not ta.last_map.requires_grad


def test_temporal_attention_rejects_3d_input():
    with pytest.raises(ValueError, match=r"\(B, C, U, T, H, W\)"):
        TemporalAttention()(torch.randn(2, 3, 4, 5, 5))


def test_channel_attention_follows_eqns_7_to_9():
    ca = ChannelAttention(32, reduction=16).double()
    assert ca.mlp[0].weight.shape == (2, 32)  # W_0: C/r × C
    x = torch.randn(3, 32, 2, 3, 3, dtype=torch.float64)
    avg, peak = x.mean(dim=(2, 3, 4)), x.amax(dim=(2, 3, 4))
    attn = torch.sigmoid(ca.mlp(avg) + ca.mlp(peak))[:, :, None, None, None]
    torch.testing.assert_close(ca(x), x * attn + x)


def test_spatio_temporal_attention_follows_eqns_10_to_12():
    sta = SpatioTemporalAttention().double()
    sta.record = True
    x = torch.randn(2, 6, 4, 5, 5, dtype=torch.float64)  # (N, C, T, H, W)
    m_st = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
    assert [p.dilation for p in sta.spatial.paths] == [(1, 2, 2), (1, 3, 3)]
    assert [p.dilation for p in sta.temporal.paths] == [(2, 1, 1), (3, 1, 1)]
    hidden = torch.relu(_two_path(m_st, sta.spatial.paths, F.conv3d))
    expected_map = torch.sigmoid(_two_path(hidden, sta.temporal.paths, F.conv3d))
    out = sta(x)
    assert sta.last_map.shape == (2, 1, 4, 5, 5)
    torch.testing.assert_close(sta.last_map, expected_map)
    torch.testing.assert_close(out, x * expected_map + x)


def test_squeeze_excitation_has_no_inner_residual():
    se = SqueezeExcitation3d(16, reduction=4).double()
    x = torch.randn(2, 16, 2, 3, 3, dtype=torch.float64)
    attn = torch.sigmoid(se.mlp(x.mean(dim=(2, 3, 4))))[:, :, None, None, None]
    torch.testing.assert_close(se(x), x * attn)


def test_cbam_channel_then_spatial_map():
    cbam = CBAM3d(16, reduction=4).double()
    x = torch.randn(2, 16, 3, 4, 4, dtype=torch.float64)
    mlp = cbam.mlp
    channel = torch.sigmoid(mlp(x.mean(dim=(2, 3, 4))) + mlp(x.amax(dim=(2, 3, 4))))
    refined = x * channel[:, :, None, None, None]
    pooled = torch.cat([refined.mean(1, keepdim=True), refined.amax(1, keepdim=True)], dim=1)
    assert cbam.spatial.kernel_size == (7, 7, 7)
    torch.testing.assert_close(cbam(x), refined * torch.sigmoid(cbam.spatial(pooled)))


@pytest.mark.parametrize(
    "build",
    [
        lambda: ChannelAttention(32, reduction=4),
        SpatioTemporalAttention,
        lambda: SqueezeExcitation3d(32, reduction=4),
        lambda: CBAM3d(32, reduction=4),
    ],
    ids=["ca", "sta", "se", "cbam"],
)
@pytest.mark.parametrize("frames", [1, 2, 8])
def test_3d_attention_keeps_shape_and_every_parameter_learns(build, frames):
    module = build()
    x = torch.randn(4, 32, frames, 5, 5)
    out = module(x)
    assert out.shape == x.shape
    out.square().sum().backward()
    for name, param in module.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_reduction_never_drops_below_one_hidden_unit():
    assert ChannelAttention(4, reduction=16).mlp[0].out_features == 1
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation3d(8, reduction=0)
    with pytest.raises(ValueError, match="odd"):
        TemporalAttention(kernel_size=4)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    ("dims", "keepdim"), [((2, 3, 4), False), ((1, 3, 4), False), ((1,), True)]
)
def test_max_pool_equals_amax_in_values_and_gradients(dims, keepdim, channels_last):
    """The training-time max of CA / TA / STA (argmax kept, one-scatter backward) is amax."""
    from f4d.nn.attention import max_pool

    torch.manual_seed(0)
    x = torch.randn(2, 8, 3, 4, 5, dtype=torch.float64)
    if channels_last:
        x = x.to(memory_format=torch.channels_last_3d)
    x.requires_grad_(True)
    got, expected = max_pool(x, dims, keepdim), x.amax(dim=dims, keepdim=keepdim)
    assert torch.equal(got, expected)
    grad = torch.randn_like(expected)
    (g1,) = torch.autograd.grad(got, x, grad)
    (g2,) = torch.autograd.grad(expected, x, grad)
    assert torch.equal(g1, g2)
    assert g1.is_contiguous(memory_format=torch.channels_last_3d) == channels_last


def test_max_pool_at_a_tie_gives_the_whole_gradient_to_one_maximum():
    from f4d.nn.attention import max_pool

    x = torch.zeros(1, 2, 2, 2, 2, requires_grad=True)  # every value ties
    max_pool(x, (2, 3, 4)).sum().backward()
    assert x.grad.sum().item() == 2.0  # one unit of gradient per (N, C) descriptor
    assert (x.grad.flatten(2) == 1).sum(dim=2).tolist() == [[1, 1]]


@pytest.mark.parametrize(
    ("conv", "kernel", "shape"),
    [(torch.nn.Conv1d, (3,), (2, 1, 11)), (torch.nn.Conv3d, (1, 3, 3), (2, 2, 3, 5, 6)),
     (torch.nn.Conv3d, (3, 1, 1), (2, 2, 7, 2, 2))],
)  # fmt: skip
def test_two_path_convolution_is_one_call_equal_to_the_sum_of_its_paths(conv, kernel, shape):
    """TA's and STA's two dilated paths run as one convolution with both paths' taps."""
    from f4d.nn.attention import _TwoPathDilated

    torch.manual_seed(0)
    module = _TwoPathDilated(conv, shape[1], 2, kernel).double()
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    expected = module.paths[0](x) + module.paths[1](x)
    got = module(x)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad(got.square().sum(), [x, *module.parameters()])
    reference = torch.autograd.grad(expected.square().sum(), [x, *module.parameters()])
    for a, b in zip(grads, reference):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    weight, _ = module.merged()
    assert weight.shape[2:] == tuple(7 if k == 3 else 1 for k in kernel)  # dilation 3 spans 7


@pytest.mark.parametrize(("t", "h", "w"), [(2, 3, 3), (4, 12, 12)])  # dense product / conv
def test_sta_map_on_small_and_large_maps_equals_its_two_path_convolutions(t, h, w):
    from f4d.ops.small_conv import dense_conv_fits

    assert dense_conv_fits(2, 2, (t, h, w)) == (h < 12)  # both code paths are exercised
    torch.manual_seed(0)
    sta = SpatioTemporalAttention().double()
    m_st = torch.randn(3, 2, t, h, w, dtype=torch.float64)
    hidden = F.relu(_two_path(m_st, sta.spatial.paths, F.conv3d))
    expected = torch.sigmoid(_two_path(hidden, sta.temporal.paths, F.conv3d))
    torch.testing.assert_close(sta.map(m_st), expected)
