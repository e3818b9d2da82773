"""`dense_conv`: a same-padded convolution as one product with its dense matrix, against
PyTorch's convolutions in float64 (values and gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from f4d.ops.small_conv import DENSE_CONV_MAX_ENTRIES, dense_conv, dense_conv_fits

CONVS = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}
CASES = [
    ((3, 1, 16), (1, 1, 7)),  # TA: the U·T sequence, merged dilations 2 and 3
    ((4, 2, 4, 4, 4), (2, 2, 1, 7, 7)),  # STA spatial on (T, H, W)
    ((4, 2, 4, 4, 4), (1, 2, 7, 1, 1)),  # STA temporal
    ((2, 3, 5, 6), (4, 3, 3, 5)),  # uneven map and kernel
    ((2, 2, 3, 2, 5), (3, 2, 5, 5, 3)),  # kernel larger than the map
    ((1, 1, 1), (2, 1, 3)),  # one position
]


def _reference(x, weight, bias):
    pad = tuple(k // 2 for k in weight.shape[2:])
    return CONVS[x.dim()](x, weight, bias, padding=pad)


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize(("x_shape", "w_shape"), CASES)
def test_equals_the_convolution_with_gradients(x_shape, w_shape, with_bias):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(w_shape, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(w_shape[0], dtype=torch.float64, generator=gen) if with_bias else None
    if b is not None:
        b.requires_grad_()
    leaves = [t for t in (x, w, b) if t is not None]
    out = dense_conv(x, w, b)
    ref = _reference(x, w, b)
    assert out.shape == ref.shape == (x_shape[0], w_shape[0], *x_shape[2:])
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    grad = torch.randn(ref.shape, dtype=torch.float64, generator=gen)
    got = torch.autograd.grad(out, leaves, grad)
    want = torch.autograd.grad(ref, leaves, grad)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=0, atol=1e-11)


def test_gradcheck():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(dense_conv, (x, w, b))


def test_a_channels_last_input_gives_the_same_values():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 2, 4, 4, 4, dtype=torch.float64, generator=gen)
    w = torch.randn(2, 2, 1, 7, 7, dtype=torch.float64, generator=gen)
    cl = x.to(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(dense_conv(cl, w), _reference(x, w, None), rtol=0, atol=1e-12)


def test_fits_counts_the_dense_matrix():
    assert dense_conv_fits(2, 2, (4, 4, 4))  # 2·2·64² = 16384 entries
    assert dense_conv_fits(1, 1, (256,))  # exactly 2^16
    assert not dense_conv_fits(1, 1, (257,))
    assert not dense_conv_fits(2, 2, (8, 28, 28))  # a ResNet-50 res3 map: the convolution
    assert DENSE_CONV_MAX_ENTRIES == 1 << 16


@pytest.mark.parametrize(
    ("x_shape", "w_shape"), [((1, 1, 8), (1, 1, 4)), ((1, 1, 4, 4), (1, 1, 3))]
)
def test_even_or_missing_kernel_axes_are_refused(x_shape, w_shape):
    with pytest.raises(ValueError, match="one odd kernel size per axis"):
        dense_conv(torch.zeros(x_shape), torch.zeros(w_shape))


@pytest.mark.parametrize(
    ("x_shape", "kernels", "dilations"),
    [
        ((3, 1, 16), [(1, 1, 3), (1, 1, 3)], [(2,), (3,)]),  # TA's two paths
        ((2, 2, 4, 4, 4), [(2, 2, 1, 3, 3), (2, 2, 1, 3, 3)], [(1, 2, 2), (1, 3, 3)]),  # STA
        ((2, 2, 5, 3, 3), [(1, 2, 3, 1, 1), (1, 2, 3, 1, 1)], [(2, 1, 1), (3, 1, 1)]),
        ((2, 3, 6, 5), [(2, 3, 3, 5), (2, 3, 1, 3), (2, 3, 3, 3)], [(1, 1), (1, 2), (2, 1)]),
    ],
)
def test_several_dilated_kernels_sum_their_convolutions(x_shape, kernels, dilations):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(x_shape, dtype=torch.float64, generator=gen, requires_grad=True)
    weights = [torch.randn(k, dtype=torch.float64, generator=gen, requires_grad=True)
               for k in kernels]  # fmt: skip
    bias = torch.randn(kernels[0][0], dtype=torch.float64, generator=gen, requires_grad=True)
    out = dense_conv(x, weights, bias, dilation=dilations)
    conv = CONVS[x.dim()]
    ref = bias.view(1, -1, *([1] * (x.dim() - 2))) + sum(
        conv(x, w, dilation=d, padding=tuple(di * (k // 2) for di, k in zip(d, w.shape[2:])))
        for w, d in zip(weights, dilations)
    )
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    grad = torch.randn(ref.shape, dtype=torch.float64, generator=gen)
    leaves = [x, *weights, bias]
    for g, r in zip(torch.autograd.grad(out, leaves, grad), torch.autograd.grad(ref, leaves, grad)):
        torch.testing.assert_close(g, r, rtol=0, atol=1e-11)


def test_one_dilation_per_kernel_and_axis():
    x, w = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3)
    with pytest.raises(ValueError, match="one dilation per kernel and axis"):
        dense_conv(x, [w, w], dilation=[(1, 1)])
    with pytest.raises(ValueError, match="one dilation per kernel and axis"):
        dense_conv(x, w, dilation=[(1,)])


def test_a_table_first_built_under_inference_mode_serves_training():
    """The 0/1 tables are cached per geometry; one first built during evaluation (inference
    mode) must still be usable in a later training step of the same process."""
    size = (3, 5, 7)  # a geometry no other test uses, so the cache starts empty for it
    x = torch.randn(2, 1, *size)
    w = torch.randn(1, 1, 3, 3, 3, requires_grad=True)
    with torch.inference_mode():
        dense_conv(x, w.detach())
    (grad,) = torch.autograd.grad(dense_conv(x, w).sum(), w)
    torch.testing.assert_close(
        grad, torch.autograd.grad(_reference(x, w, None).sum(), w)[0], rtol=1e-5, atol=1e-5
    )


@pytest.fixture
def tables(monkeypatch):
    """Every ``(device, dtype)`` a table is asked for, and the tables handed out."""
    import f4d.ops.small_conv as small_conv

    asked, built = [], []
    real = small_conv._selection

    def spy(size, kernels, dilations, device, dtype):
        asked.append((torch.device(device), dtype))
        built.append(real(size, kernels, dilations, device, dtype))
        return built[-1]

    monkeypatch.setattr(small_conv, "_selection", spy)
    return asked, built


def test_the_table_follows_the_taps_device(tables):
    """On the meta device (standing in for a GPU, where a CPU table would fail the product)
    the table is built where the taps are, and the result stays there with the right shape."""
    x = torch.empty(3, 2, 4, 4, 4, device="meta")
    weight = torch.empty(1, 2, 3, 3, 3, device="meta")
    out = dense_conv(x, weight, torch.empty(1, device="meta"))
    assert out.device.type == "meta" and out.shape == (3, 1, 4, 4, 4)
    asked, built = tables
    assert asked == [(torch.device("meta"), torch.float32)]
    assert built[0].device.type == "meta" and built[0].shape == (27, 64 * 64)


def test_the_table_follows_the_taps_dtype(tables):
    """The table's dtype is the taps' (they meet in the product), not the input's."""
    x = torch.randn(2, 1, 5, dtype=torch.float64)
    dense_conv(x, torch.randn(1, 1, 3, dtype=torch.float64))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 input, float32 weights
        dense_conv(x.to(torch.bfloat16), torch.randn(1, 1, 3))
    cpu = torch.device("cpu")
    assert tables[0] == [(cpu, torch.float64), (cpu, torch.float32)]
    assert [t.dtype for t in tables[1]] == [torch.float64, torch.float32]
