"""factorized_width (the paper's M_i) and the (3+1)D factorized 4D convolution."""

from __future__ import annotations

import pytest
import torch

from f4d.ops import Conv4d, Factorized4d, factorized_width
from f4d.ops.conv4d import to_4tuple
from tests.ops.reference import reference_conv4d

RESNET50_WIDTHS = (64, 128, 256, 512, 1024, 2048)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("in_ch", "out_ch", "kernel", "expected"),
    [
        (64, 64, (3, 3, 1, 1), 96),  # 36864 / 384 = 96
        (16, 32, (3, 3, 3, 3), 78),  # 41472 / 528 = 78.54
        (3, 5, (1, 3, 1, 1), 2),  # 45 / 18 = 2.5
        (512, 512, (3, 3, 1, 1), 768),  # 2359296 / 3072 = 768
        (1, 1, (1, 1, 1, 1), 1),  # 1 / 2 = 0 -> clamped to 1
    ],
)
def test_factorized_width_table(in_ch, out_ch, kernel, expected):
    assert factorized_width(in_ch, out_ch, kernel) == expected


def test_factorized_width_rejects_bad_arguments():
    with pytest.raises(ValueError, match="in_ch=0"):
        factorized_width(0, 4, (3, 3, 1, 1))
    with pytest.raises(ValueError, match="kernel_size"):
        factorized_width(4, 4, (3, 3, 1))


@pytest.mark.parametrize("width", RESNET50_WIDTHS)
def test_factorized_params_within_two_percent_of_conv4d(width):
    with torch.device("meta"):
        full = Conv4d(width, width, (3, 3, 1, 1), padding=(1, 1, 0, 0))
        factorized = Factorized4d(width, width, (3, 3, 1, 1), padding=(1, 1, 0, 0))
    ratio = _count(factorized) / _count(full)
    assert abs(ratio - 1) < 0.02, (width, _count(factorized), _count(full))


@pytest.mark.parametrize(("in_ch", "out_ch"), [(256, 512), (1024, 512), (64, 256)])
def test_factorized_params_close_for_unequal_widths(in_ch, out_ch):
    with torch.device("meta"):
        full = Conv4d(in_ch, out_ch, (3, 3, 1, 1))
        factorized = Factorized4d(in_ch, out_ch, (3, 3, 1, 1))
    assert abs(_count(factorized) / _count(full) - 1) < 0.02


def test_factorized_filter_shapes_follow_section_3_3():
    layer = Factorized4d(8, 6, (3, 3, 3, 1))
    m = factorized_width(8, 6, (3, 3, 3, 1))
    assert layer.mid_channels == m
    assert layer.spatial.weight.shape == (m, 8, 3, 1, 3, 1)  # M_i filters N_{i-1}×u×1×h×w
    assert layer.temporal.weight.shape == (6, m, 1, 3, 1, 1)  # N_i filters M_i×1×t×1×1
    assert Factorized4d(8, 6, mid_channels=5).mid_channels == 5


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation"),
    [
        ((3, 3, 1, 1), 1, (1, 1, 0, 0), 1),
        ((3, 3, 3, 3), (2, 2, 1, 2), (1, 0, 1, 1), (1, 1, 2, 1)),
        ((2, 3, 1, 3), (1, 1, 1, 2), (0, 2, 0, 1), (2, 2, 1, 1)),
    ],
)
def test_factorized_equals_spatial_bn_relu_temporal(kernel, stride, padding, dilation):
    layer = Factorized4d(3, 4, kernel, stride, padding, dilation, mid_channels=5).double().eval()
    with torch.no_grad():
        layer.norm.running_mean.uniform_(-0.5, 0.5)
        layer.norm.running_var.uniform_(0.5, 2.0)
        layer.norm.weight.uniform_(0.5, 1.5)
        layer.norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 3, 6, 7, 6, 7, dtype=torch.float64)
    (su, st, sh, sw), (pu, pt, ph, pw), (du, dt, dh, dw) = (
        to_4tuple(stride, "stride"),
        to_4tuple(padding, "padding"),
        to_4tuple(dilation, "d"),
    )
    mid = reference_conv4d(
        x, layer.spatial.weight, None, (su, 1, sh, sw), (pu, 0, ph, pw), (du, 1, dh, dw)
    )
    bn = layer.norm
    shape = (1, -1, 1, 1, 1, 1)
    mid = (mid - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
    mid = torch.relu(mid * bn.weight.view(shape) + bn.bias.view(shape))
    expected = reference_conv4d(
        mid,
        layer.temporal.weight,
        layer.temporal.bias,
        (1, st, 1, 1),
        (0, pt, 0, 0),
        (1, dt, 1, 1),
    )
    actual = layer(x)
    full = Conv4d(3, 4, kernel, stride, padding, dilation)
    assert actual.shape == full(x.float()).shape
    torch.testing.assert_close(actual, expected)


def test_factorized_gradcheck():
    layer = Factorized4d(2, 2, (3, 3, 1, 1), padding=(1, 1, 0, 0), mid_channels=2).double()
    layer.eval()  # BN with running statistics: a fixed affine map, so gradcheck is exact
    x = torch.randn(1, 2, 3, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


@pytest.mark.parametrize("units", range(1, 11))
def test_factorized_shape_contract_over_units(units):
    layer = Factorized4d(4, 6, (3, 3, 1, 1), padding=(1, 1, 0, 0))
    x = torch.randn(2, 4, units, 4, 3, 3)
    assert layer(x).shape == (2, 6, units, 4, 3, 3)
    strided = Factorized4d(4, 6, (1, 3, 3, 3), stride=(1, 2, 2, 2))
    assert strided(x).shape == Conv4d(4, 6, (1, 3, 3, 3), stride=(1, 2, 2, 2))(x).shape


def test_factorized_every_parameter_gets_a_gradient():
    layer = Factorized4d(3, 4, (3, 3, 3, 3), padding=1)
    layer(torch.randn(2, 3, 3, 3, 4, 4)).square().sum().backward()
    for name, param in layer.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
