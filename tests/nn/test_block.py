"""Residual4dBlock (eqn 3) and the attention registry."""

from __future__ import annotations

import pytest
import torch

from f4d.nn import ATTENTION_LAYERS, Residual4dBlock, make_attention
from f4d.ops import Conv4d, Factorized4d

ALL_NAMES = ("ta", "ca", "sta", "se", "cbam", "stm", "tea")
ATTENTION_SETS = [(), ("ta", "ca", "sta"), ("ca",), ("sta", "ta"), ("se",), ("cbam",), ("stm",)]


def _rows(batch: int, units: int, channels: int = 16, t: int = 3, hw: int = 4) -> torch.Tensor:
    return torch.randn(batch * units, channels, t, hw, hw)  # (B·U, C, T, H, W)


def test_registry_holds_every_name_and_builds_them():
    assert set(ATTENTION_LAYERS) == set(ALL_NAMES)
    for name in ALL_NAMES:
        assert isinstance(make_attention(name, 16), ATTENTION_LAYERS[name])


def test_make_attention_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"'nonlocal'.*ca, cbam, se, sta, stm, ta, tea"):
        make_attention("nonlocal", 16)


@pytest.mark.parametrize("op", ["factorized", "full"])
@pytest.mark.parametrize("attention", [*ATTENTION_SETS, ("tea",)])
def test_zero_init_block_is_exact_identity(op, attention):
    block = Residual4dBlock(16, op=op, attention=attention, dropout=0.5)
    x = _rows(2, 3)
    assert torch.equal(block(x, units=3), x)


def test_without_zero_init_block_changes_its_input():
    block = Residual4dBlock(16, zero_init=False)
    x = _rows(2, 3)
    assert not torch.allclose(block(x, units=3), x)


@pytest.mark.parametrize("op", ["factorized", "full"])
@pytest.mark.parametrize("attention", [("ta", "ca", "sta"), ("se",), ("cbam",), ("stm",), ("tea",)])
def test_every_parameter_gets_a_gradient(op, attention):
    block = Residual4dBlock(64, op=op, attention=attention, zero_init=False)
    block(_rows(2, 3, channels=64), units=3).square().sum().backward()
    for name, param in block.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("units", range(1, 11))
def test_shapes_for_units_one_to_ten(units):
    block = Residual4dBlock(8, attention=("ta", "ca", "sta"), zero_init=False)
    x = _rows(2, units, channels=8, t=2, hw=3)
    assert block(x, units=units).shape == x.shape


def test_units_are_read_at_run_time():
    block = Residual4dBlock(8, zero_init=False).eval()
    assert block(_rows(2, 4, channels=8), units=4).shape == (8, 8, 3, 4, 4)
    assert block(_rows(2, 10, channels=8), units=10).shape == (20, 8, 3, 4, 4)


def test_mismatched_batch_names_the_numbers():
    block = Residual4dBlock(8)
    with pytest.raises(ValueError, match=r"units=4.*\(10, 8, 3, 4, 4\)"):
        block(torch.randn(10, 8, 3, 4, 4), units=4)


def test_rows_are_b_times_u_plus_u():
    """Changing video 0, unit 0 (row 0) reaches unit 1 through the u=3 kernel, nothing else."""
    block = Residual4dBlock(8, op="full", attention=(), zero_init=False).eval()
    x = _rows(2, 3, channels=8)
    moved = x.clone()
    moved[0] += 1.0
    delta = (block(moved, units=3) - block(x, units=3)).abs().sum(dim=(1, 2, 3, 4))
    assert (delta[:2] > 0).all()  # rows 0, 1 = video 0, units 0 and 1
    assert (delta[2:] == 0).all()  # unit 2 is out of reach; rows 3-5 are video 1


def test_full_block_without_attention_is_eqn_3():
    """y = x + ReLU(BN(℘(U,C)(Conv4d(℘(C,U)(x))))) with rows b·U + u."""
    block = Residual4dBlock(6, op="full", attention=(), zero_init=False).double().eval()
    with torch.no_grad():
        block.norm.running_mean.uniform_(-0.2, 0.2)
        block.norm.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2 * 3, 6, 4, 3, 3, dtype=torch.float64)
    cube = x.view(2, 3, 6, 4, 3, 3).permute(0, 2, 1, 3, 4, 5)  # (B, C, U, T, H, W)
    conv = block.op(cube).permute(0, 2, 1, 3, 4, 5).reshape(6, 6, 4, 3, 3)
    expected = x + torch.relu(block.norm(conv))
    torch.testing.assert_close(block(x, units=3), expected)


def test_op_choice_builds_the_right_4d_layer():
    assert isinstance(Residual4dBlock(8, op="full").op, Conv4d)
    factorized = Residual4dBlock(8, op="factorized").op
    assert isinstance(factorized, Factorized4d)
    assert factorized.kernel_size == (3, 3, 1, 1)
    with pytest.raises(ValueError, match=r"'diagonal'.*factorized, full"):
        Residual4dBlock(8, op="diagonal")


def test_attention_order_and_errors():
    block = Residual4dBlock(16, attention=("sta", "ca", "ta"))
    assert list(block.attention) == ["sta", "ca", "ta"]
    with pytest.raises(ValueError, match=r"'nl'.*valid names"):
        Residual4dBlock(16, attention=("ta", "nl"))
    with pytest.raises(ValueError, match="repeat"):
        Residual4dBlock(16, attention=("ca", "ca"))


def test_padding_must_keep_the_shape():
    with pytest.raises(ValueError, match=r"needs padding \(1, 1, 0, 0\)"):
        Residual4dBlock(8, kernel_size=(3, 3, 1, 1), padding=0)
    block = Residual4dBlock(8, kernel_size=(3, 3, 3, 3), padding=1, zero_init=False)
    assert block(_rows(1, 2, channels=8), units=2).shape == (2, 8, 3, 4, 4)


def test_maps_recorded_with_their_shapes():
    block = Residual4dBlock(16, attention=("ta", "ca", "sta"))
    block.attention["ta"].record = True
    block.attention["sta"].record = True
    block(_rows(2, 5, t=3, hw=4), units=5)
    assert block.attention["ta"].last_map.shape == (2, 1, 5, 3, 1, 1)
    assert block.attention["sta"].last_map.shape == (10, 1, 3, 4, 4)


def test_dropout_is_applied_in_training_only():
    block = Residual4dBlock(8, dropout=0.5, zero_init=False)
    x = _rows(2, 2, channels=8)
    block.train()
    assert not torch.equal(block(x, units=2), block(x, units=2))
    block.eval()
    assert torch.equal(block(x, units=2), block(x, units=2))
    with pytest.raises(ValueError, match="dropout"):
        Residual4dBlock(8, dropout=1.0)


@pytest.mark.parametrize("op", ["factorized", "full"])
def test_zero_init_block_leaves_identity_and_its_branch_trains(op):
    """The identity start must not be a dead start: after two SGD steps the branch has moved."""
    block = Residual4dBlock(64, op=op, attention=("ta", "ca", "sta"))  # CA hidden width 4
    before = {n: p.detach().clone() for n, p in block.named_parameters()}
    opt = torch.optim.SGD(block.parameters(), lr=0.1)
    x = _rows(2, 3, channels=64)
    target = torch.randn_like(x)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.mse_loss(block(x, units=3), target).backward()
        opt.step()
    # The op, BN and gate must move. (Attention biases are left out: a uniform shift of an
    # attention logit rescales the branch uniformly, which the following BN cancels exactly.)
    core = [n for n in before if n.startswith(("op.", "norm.", "scale"))]
    assert len(core) >= 4
    frozen = [n for n in core if torch.equal(dict(block.named_parameters())[n], before[n])]
    assert frozen == []
    assert not torch.equal(block(x, units=3), x)


@pytest.mark.parametrize(("op", "attention"), [("factorized", ("ta", "ca", "sta")), ("full", ())])
def test_inference_path_equals_the_recorded_one_and_leaves_the_input_alone(op, attention):
    """Without grad the block writes BN, act and the residual into its own tensors (and its
    attention scales in place); the numbers are those of the differentiable path."""
    torch.manual_seed(3)
    block = Residual4dBlock(8, op=op, attention=attention, zero_init=False).double().eval()
    with torch.no_grad():
        block.norm.running_mean.uniform_(-0.5, 0.5)
        block.norm.running_var.uniform_(0.5, 1.5)
        block.scale.uniform_(0.5, 1.5)
    x = torch.randn(2 * 3, 8, 4, 3, 3, dtype=torch.float64)
    recorded = block(x, units=3)
    before = x.clone()
    with torch.no_grad():
        fast = block(x, units=3)
    assert torch.equal(x, before)
    torch.testing.assert_close(fast, recorded, rtol=1e-12, atol=1e-12)


def test_attention_modules_alone_never_write_into_their_input():
    for name in ("ta", "ca", "sta"):
        module = make_attention(name, 8).eval()
        x = torch.randn(2, 8, 3, 4, 4, 4) if name == "ta" else torch.randn(2, 8, 4, 4, 4)
        before = x.clone()
        with torch.no_grad():
            module(x)
        assert torch.equal(x, before), name
