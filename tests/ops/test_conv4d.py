"""Conv4d against an independent float64 4D convolution, gradients, the loop baseline, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from f4d.ops import Conv4d, conv4d, conv4d_loop, conv4d_output_size
from f4d.ops.conv4d import conv4d_rows
from tests.ops.reference import reference_conv4d

# (input (B, C, U, T, H, W), out channels, kernel, stride, padding, dilation)
CASES = [
    ((2, 3, 4, 5, 6, 6), 4, (3, 3, 1, 1), 1, (1, 1, 0, 0), 1),  # V4D kernel, pointwise-space path
    ((1, 2, 5, 3, 4, 5), 3, (3, 3, 3, 3), 1, 1, 1),  # full 4D kernel
    ((2, 2, 7, 5, 5, 7), 3, (3, 1, 3, 3), (2, 1, 2, 1), (1, 0, 1, 1), 1),  # strides incl. U
    ((1, 3, 9, 6, 5, 5), 2, (3, 3, 1, 1), (2, 2, 1, 1), (2, 1, 0, 0), (3, 2, 1, 1)),  # dilated U
    ((1, 2, 6, 4, 7, 6), 2, (2, 2, 2, 3), 1, (0, 1, 2, 1), (2, 1, 2, 1)),  # even kernels
    ((2, 1, 1, 1, 3, 3), 2, (1, 1, 3, 3), 1, (0, 0, 1, 1), 1),  # U = T = 1
    ((1, 2, 3, 4, 5, 6), 5, (1, 1, 1, 1), 1, 0, 1),  # pointwise
    ((1, 2, 5, 4, 6, 6), 3, (3, 3, 1, 1), (1, 1, 2, 2), (1, 1, 0, 0), 1),  # h=w=1, spatial stride
    ((1, 2, 5, 4, 3, 3), 3, (3, 3, 1, 1), 1, (1, 1, 1, 1), 1),  # h=w=1 with spatial padding
    ((1, 2, 4, 3, 4, 4), 2, (4, 3, 2, 2), 1, (3, 2, 1, 1), 1),  # padding >= kernel/2
]


@pytest.mark.parametrize(("shape", "out_ch", "kernel", "stride", "padding", "dilation"), CASES)
def test_conv4d_matches_reference_float64(shape, out_ch, kernel, stride, padding, dilation):
    layer = Conv4d(shape[1], out_ch, kernel, stride, padding, dilation).double()
    x = torch.randn(shape, dtype=torch.float64)
    expected = reference_conv4d(
        x, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation
    )
    actual = layer(x)
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(
    size=st.tuples(*(st.integers(1, 6) for _ in range(4))),
    kernel=st.tuples(*(st.integers(1, 3) for _ in range(4))),
    stride=st.tuples(*(st.integers(1, 2) for _ in range(4))),
    padding=st.tuples(*(st.integers(0, 2) for _ in range(4))),
    dilation=st.tuples(*(st.integers(1, 2) for _ in range(4))),
    channels=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    bias=st.booleans(),
)
def test_conv4d_matches_reference_random_configs(
    size, kernel, stride, padding, dilation, channels, bias
):
    out = conv4d_output_size(size, kernel, stride, padding, dilation)
    x = torch.randn(2, channels[0], *size, dtype=torch.float64)
    weight = torch.randn(channels[1], channels[0], *kernel, dtype=torch.float64)
    b = torch.randn(channels[1], dtype=torch.float64) if bias else None
    if min(out) < 1:
        with pytest.raises(ValueError, match="too small"):
            conv4d(x, weight, b, stride, padding, dilation)
        return
    expected = reference_conv4d(x, weight, b, stride, padding, dilation)
    torch.testing.assert_close(conv4d(x, weight, b, stride, padding, dilation), expected)


def test_conv4d_float32_close_to_float64_reference():
    layer = Conv4d(8, 6, (3, 3, 3, 3), padding=1)
    x = torch.randn(2, 8, 4, 4, 5, 5)
    expected = reference_conv4d(x, layer.weight, layer.bias, (1,) * 4, (1,) * 4, (1,) * 4)
    torch.testing.assert_close(layer(x).double(), expected, rtol=1e-4, atol=1e-4)


def test_conv4d_accepts_non_contiguous_input():
    layer = Conv4d(3, 2, (3, 3, 1, 1), padding=(1, 1, 0, 0)).double()
    rows = torch.randn(2 * 4, 3, 5, 3, 3, dtype=torch.float64)  # (B·U, C, T, H, W)
    x = rows.view(2, 4, 3, 5, 3, 3).transpose(1, 2)  # (B, C, U, T, H, W) view
    assert not x.is_contiguous()
    expected = reference_conv4d(x, layer.weight, layer.bias, (1,) * 4, (1, 1, 0, 0), (1,) * 4)
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation"),
    [((3, 3, 1, 1), 1, (1, 1, 0, 0), 1), ((2, 2, 2, 2), (2, 1, 1, 2), 1, (1, 2, 1, 1))],
)
def test_conv4d_gradcheck(kernel, stride, padding, dilation):
    x = torch.randn(1, 2, 3, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 2, *kernel, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, w, b: conv4d(a, w, b, stride, padding, dilation), (x, weight, bias)
    )


@pytest.mark.parametrize(("shape", "out_ch", "kernel", "stride", "padding", "dilation"), CASES[:6])
def test_conv4d_loop_equals_conv4d(shape, out_ch, kernel, stride, padding, dilation):
    layer = Conv4d(shape[1], out_ch, kernel, stride, padding, dilation).double()
    x = torch.randn(shape, dtype=torch.float64)
    looped = conv4d_loop(x, layer.weight, layer.bias, stride, padding, dilation)
    torch.testing.assert_close(looped, layer(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("units", range(1, 11))
def test_conv4d_shape_contract_over_units(units):
    same = Conv4d(4, 6, (3, 3, 1, 1), padding=(1, 1, 0, 0))
    valid = Conv4d(4, 6, (1, 3, 3, 3), stride=(1, 2, 2, 2))
    x = torch.randn(2, 4, units, 4, 5, 5)
    assert same(x).shape == (2, 6, units, 4, 5, 5)
    assert valid(x).shape == (2, 6, units, 1, 2, 2)


def test_conv4d_parameters_and_layout():
    layer = Conv4d(3, 5, (3, 1, 2, 2))
    assert layer.weight.shape == (5, 3, 3, 1, 2, 2)
    assert layer.bias.shape == (5,)
    assert Conv4d(3, 5, 3, bias=False).bias is None
    assert Conv4d(3, 5, 2).kernel_size == (2, 2, 2, 2)


@pytest.mark.parametrize(
    ("x_shape", "kwargs", "message"),
    [
        ((2, 3, 4, 4, 4), {}, r"\(B, C, U, T, H, W\)"),
        ((1, 2, 3, 3, 3, 3), {}, "2 channels but the weight expects 3"),
        ((1, 3, 2, 3, 3, 3), {}, "too small"),
        ((1, 3, 3, 3, 3, 3), {"stride": (1, 1, 1)}, "4 ints"),
        ((1, 3, 3, 3, 3, 3), {"stride": 0}, "stride >= 1"),
        ((1, 3, 3, 3, 3, 3), {"padding": -1}, "padding >= 0"),
    ],
)
def test_conv4d_errors_name_the_problem(x_shape, kwargs, message):
    weight = torch.randn(2, 3, 3, 1, 1, 1)
    with pytest.raises(ValueError, match=message):
        conv4d(torch.randn(x_shape), weight, None, **kwargs)


def test_conv4d_layer_rejects_bad_kernel():
    with pytest.raises(ValueError, match="kernel_size"):
        Conv4d(2, 2, (3, 3, 1))
    with pytest.raises(ValueError, match=">= 1"):
        Conv4d(2, 2, (3, 0, 1, 1))


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "expected_inputs"),
    [
        # unit kernel (F4D's first filter): one conv3d over (B, C, U, T·H, W)
        ((3, 1, 1, 1), 1, (1, 0, 0, 0), [(2, 3, 5, 4 * 5, 6)]),
        # unit sum (V4D): one conv3d per unit offset, over every unit that offset reaches
        (
            (3, 3, 1, 1),
            1,
            (1, 1, 0, 0),
            [(2 * 5, 3, 4, 5, 6), (2 * 4, 3, 4, 5, 6), (2 * 4, 3, 4, 5, 6)],
        ),
        # U stride 2: offsets folded into channels, one conv3d over (B·U', C·u, T, H, W)
        ((3, 3, 3, 3), (2, 1, 1, 1), 1, [(2 * 3, 3 * 3, 4, 5, 6)]),
    ],
)
def test_conv4d_never_loops_over_output_units(
    monkeypatch, kernel, stride, padding, expected_inputs
):
    """At most one conv3d per unit offset, whatever U is (issues 7 and 13)."""
    shapes = []
    original = F.conv3d

    def counting(x, *args, **kwargs):
        shapes.append(tuple(x.shape))
        return original(x, *args, **kwargs)

    monkeypatch.setattr(F, "conv3d", counting)
    Conv4d(3, 4, kernel, stride=stride, padding=padding)(torch.randn(2, 3, 5, 4, 5, 6))
    assert shapes == expected_inputs


ROW_CASES = [
    ((3, 1, 1, 1), 1, (1, 0, 0, 0), 1),  # unit kernel
    ((3, 1, 1, 3), (2, 1, 1, 2), (1, 0, 0, 1), (1, 1, 1, 2)),  # unit kernel, U/W stride
    ((3, 3, 1, 1), 1, (1, 1, 0, 0), 1),  # unit sum, V4D
    ((2, 3, 3, 3), 1, (1, 1, 1, 1), (2, 1, 1, 1)),  # unit sum, offsets -1 and +1 only
    ((2, 1, 3, 1), 1, (0, 0, 1, 0), 1),  # unit sum, valid padding on U (U' < U)
    ((3, 3, 1, 1), (2, 1, 1, 1), (1, 1, 0, 0), 1),  # folded; channels-last: H·W merged
    ((3, 3, 1, 1), (1, 2, 1, 1), (2, 1, 0, 0), (2, 1, 1, 1)),  # H·W merged, U dilation, T stride
    ((2, 1, 1, 1), 1, (1, 0, 0, 0), 1),  # unit kernel, U' = U + 1
]


def test_channels_last_v4d_kernel_is_one_conv3d_over_the_merged_space(monkeypatch):
    """(u, t, 1, 1) on channels_last_3d rows: one conv3d over the (B, C, U, T, H·W) view."""
    shapes, original = [], F.conv3d

    def counting(x, *args, **kwargs):
        shapes.append((tuple(x.shape), x.is_contiguous(memory_format=torch.channels_last_3d)))
        return original(x, *args, **kwargs)

    monkeypatch.setattr(F, "conv3d", counting)
    rows = torch.randn(2 * 5, 3, 4, 5, 6).to(memory_format=torch.channels_last_3d)
    out = conv4d_rows(rows, torch.randn(4, 3, 3, 3, 1, 1), None, units=5, padding=(1, 1, 0, 0))
    assert shapes == [((2, 3, 5, 4, 30), True)]
    assert out.shape == (10, 4, 4, 5, 6) and out.is_contiguous(memory_format=torch.channels_last_3d)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation"), ROW_CASES)
def test_conv4d_rows_match_reference_in_both_layouts(
    kernel, stride, padding, dilation, channels_last
):
    """Rows (B·U, C, T, H, W), contiguous or channels_last_3d, against the float64 reference."""
    torch.manual_seed(0)
    b, u, c = 2, 5, 3
    rows = torch.randn(b * u, c, 4, 5, 6, dtype=torch.float64)
    if channels_last:
        rows = rows.to(memory_format=torch.channels_last_3d)
    weight = torch.randn(4, c, *kernel, dtype=torch.float64)
    bias = torch.randn(4, dtype=torch.float64)
    cube = rows.view(b, u, c, 4, 5, 6).transpose(1, 2)  # (B, C, U, T, H, W)
    expected = reference_conv4d(
        cube, weight, bias, to_4(stride), to_4(padding), to_4(dilation)
    )  # (B, O, U', T', H', W')
    out = conv4d_rows(
        rows, weight, bias, units=u, stride=stride, padding=padding, dilation=dilation
    )
    u_out = expected.shape[2]
    assert out.shape == (b * u_out, 4, *expected.shape[3:])
    torch.testing.assert_close(out.view(b, u_out, *out.shape[1:]).transpose(1, 2), expected)


# Unit-sum cases where no unit offset feeds every output unit: the sum starts from zeros.
PADDING_ONLY = [
    ((2, 3, 3, 3), (1, 1, 1, 1), (2, 1, 1, 1)),  # offsets -1 and +1 only
    ((2, 3, 1, 1), (1, 1, 0, 0), 1),  # U' = U + 1: each offset misses one output unit
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("kernel", "padding", "dilation"), PADDING_ONLY)
@pytest.mark.parametrize("videos", [1, 2])
def test_conv4d_rows_padding_only_sum_keeps_the_input_layout(
    kernel, padding, dilation, channels_last, videos
):
    """The zeros the padding-only unit sum starts from are laid out like the input, so a
    channels_last_3d model gets channels_last_3d rows back (and the numbers are eqn 1's)."""
    layout = torch.channels_last_3d if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    rows = torch.randn(videos * 5, 3, 4, 5, 6, dtype=torch.float64).to(memory_format=layout)
    weight, bias = torch.randn(4, 3, *kernel, dtype=torch.float64), torch.randn(4).double()
    out = conv4d_rows(rows, weight, bias, units=5, padding=padding, dilation=dilation)
    assert out.is_contiguous(memory_format=layout)
    cube = rows.view(videos, 5, 3, 4, 5, 6).transpose(1, 2)  # (B, C, U, T, H, W)
    expected = reference_conv4d(cube, weight, bias, (1,) * 4, to_4(padding), to_4(dilation))
    u_out = expected.shape[2]
    torch.testing.assert_close(out.view(videos, u_out, *out.shape[1:]).transpose(1, 2), expected)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    ("kernel", "padding"), [((3, 1, 1, 1), (1, 0, 0, 0)), ((3, 3, 1, 1), (1, 1, 0, 0))]
)
def test_conv4d_rows_gradcheck_with_several_videos(kernel, padding, channels_last):
    rows = torch.randn(2 * 3, 2, 3, 2, 2, dtype=torch.float64)
    if channels_last:
        rows = rows.to(memory_format=torch.channels_last_3d)
    rows.requires_grad_(True)
    weight = torch.randn(2, 2, *kernel, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, w: conv4d_rows(a, w, None, units=3, padding=padding), (rows, weight)
    )


def test_conv4d_rows_errors_name_the_problem():
    weight = torch.randn(2, 3, 3, 1, 1, 1)
    with pytest.raises(ValueError, match=r"units=4.*\(10, 3, 2, 2, 2\)"):
        conv4d_rows(torch.randn(10, 3, 2, 2, 2), weight, units=4)


def to_4(value):
    return (value,) * 4 if isinstance(value, int) else tuple(value)
