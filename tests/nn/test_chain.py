"""`ta_ca_sta`: F4D's attention chain from pooled statistics equals TA, CA and STA run one after
the other (float64: values, gradients of the input and of every parameter, recorded maps)."""

from __future__ import annotations

import itertools

import pytest
import torch

from f4d.nn import ChannelAttention, Residual4dBlock, SpatioTemporalAttention, TemporalAttention
from f4d.nn.chain import ta_ca_sta


def _modules(channels: int, seed: int = 0):
    torch.manual_seed(seed)
    mods = (TemporalAttention(), ChannelAttention(channels, reduction=4), SpatioTemporalAttention())
    for m in mods:
        m.double()
        for p in m.parameters():  # larger weights than the init, so every map is far from 1/2
            p.data.normal_(0, 0.5)
    return mods


def _one_by_one(x, units, ta, ca, sta):
    return sta(ca(ta(x, units=units)))


SHAPES = [(8, 6, 4, 4, 4, 4), (6, 5, 3, 5, 3, 2), (4, 3, 1, 2, 14, 14)]  # N, C, U, T, H, W


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("n", "c", "units", "t", "h", "w"), SHAPES)
def test_equals_the_modules_one_after_the_other(n, c, units, t, h, w, channels_last):
    mods = _modules(c)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, c, t, h, w, dtype=torch.float64, generator=gen)
    if channels_last:
        x = x.to(memory_format=torch.channels_last_3d)
    x.requires_grad_()
    params = [p for m in mods for p in m.parameters()]
    out = ta_ca_sta(x, units, *mods)
    ref = _one_by_one(x, units, *mods)
    assert out.shape == ref.shape and out.stride() == ref.stride()
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    grad = torch.randn(out.shape, dtype=torch.float64, generator=gen)
    got = torch.autograd.grad(out, [x, *params], grad)
    want = torch.autograd.grad(ref, [x, *params], grad)
    for name, g, r in zip(["x", *(f"param{i}" for i in range(len(params)))], got, want):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10, msg=name)


def test_gradcheck_through_the_hand_written_backward():
    mods = _modules(4)
    x = torch.randn(4, 4, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: ta_ca_sta(inp, 2, *mods), (x,))


def test_ties_share_the_max_pools_gradient_like_amax(monkeypatch):
    """Equal maxima (e.g. zeros) split a max pool's gradient evenly, as `torch.amax` does: the
    chain's gradients equal those of the modules with their max pools taken by amax."""
    import f4d.nn.attention as attention

    monkeypatch.setattr(
        attention, "max_pool", lambda x, dims, keepdim=False: x.amax(dim=dims, keepdim=keepdim)
    )
    mods = _modules(3)
    x = torch.zeros(4, 3, 2, 3, 3, dtype=torch.float64)
    x[0, 0, 0, 0, 0] = 1.0  # one clear maximum; everything else ties at 0
    x[2, 1] = 0.5  # a tied plateau inside one channel
    params = [p for m in mods for p in m.parameters()]
    x.requires_grad_()
    got = torch.autograd.grad(ta_ca_sta(x, 2, *mods).sum(), [x, *params])
    want = torch.autograd.grad(_one_by_one(x, 2, *mods).sum(), [x, *params])
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)


def test_input_without_gradient_still_trains_the_parameters():
    mods = _modules(4)
    x = torch.randn(4, 4, 2, 3, 3, dtype=torch.float64)  # a frozen backbone's output
    params = [p for m in mods for p in m.parameters()]
    got = torch.autograd.grad(ta_ca_sta(x, 2, *mods).sum(), params)
    want = torch.autograd.grad(_one_by_one(x, 2, *mods).sum(), params)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("grad_mode", [True, False])
def test_recorded_maps_are_the_modules_maps(grad_mode):
    mods = _modules(4)
    ta, _, sta = mods
    x = torch.randn(6, 4, 2, 3, 3, dtype=torch.float64, requires_grad=grad_mode)
    ta.record = sta.record = True
    with torch.set_grad_enabled(grad_mode):
        _one_by_one(x, 3, *mods)
        want = ta.last_map.clone(), sta.last_map.clone()
        ta_ca_sta(x, 3, *mods)
    assert ta.last_map.shape == (2, 1, 3, 2, 1, 1) and sta.last_map.shape == (6, 1, 2, 3, 3)
    torch.testing.assert_close(ta.last_map, want[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sta.last_map, want[1], rtol=1e-12, atol=1e-12)
    assert not ta.last_map.requires_grad and not sta.last_map.requires_grad


def test_inference_writes_into_its_input_only_when_every_module_allows_it():
    mods = _modules(4)
    x = torch.randn(4, 4, 2, 3, 3, dtype=torch.float64)
    ref = _one_by_one(x, 2, *mods).detach()
    with torch.no_grad():
        kept = x.clone()
        out = ta_ca_sta(kept, 2, *mods)  # inplace flags off: input untouched
        torch.testing.assert_close(kept, x, rtol=0, atol=0)
        for m in mods:
            m.inplace = True
        out_inplace = ta_ca_sta(kept, 2, *mods)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out_inplace, ref, rtol=1e-12, atol=1e-12)
    assert out_inplace.data_ptr() == kept.data_ptr()


@pytest.mark.parametrize("flags", [f for f in itertools.product((False, True), repeat=3)
                                   if not all(f)])  # fmt: skip
def test_mixed_inplace_flags_leave_the_input_alone(flags):
    """One module that did not allow it (e.g. TA shared with another path) is enough: with any
    flag off the input keeps its values and the output is a new tensor."""
    mods = _modules(4)
    for m, flag in zip(mods, flags):
        m.inplace = flag
    x = torch.randn(4, 4, 2, 3, 3, dtype=torch.float64)
    ref = _one_by_one(x, 2, *mods).detach()
    kept = x.clone()
    with torch.no_grad():
        out = ta_ca_sta(kept, 2, *mods)
    torch.testing.assert_close(kept, x, rtol=0, atol=0)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    assert out.data_ptr() != kept.data_ptr()


def test_the_block_runs_the_chain_for_ta_ca_sta_only():
    block = Residual4dBlock(8)
    assert block.attention_chain is not None
    assert block.attention_chain.chain == tuple(block.attention[n] for n in ("ta", "ca", "sta"))
    assert not list(block.attention_chain.parameters())  # the state dict is unchanged
    keys = set(block.state_dict())
    block.attention_chain = None
    assert set(block.state_dict()) == keys and all(".chain" not in k for k in keys)
    assert Residual4dBlock(8, attention=("ca", "sta")).attention_chain is None
    assert Residual4dBlock(8, attention=("ta", "sta", "ca")).attention_chain is None  # order
    assert Residual4dBlock(8, attention=("ta", "ca", "sta", "se")).attention_chain is None


def test_the_block_with_the_chain_equals_the_block_without():
    torch.manual_seed(0)
    block = Residual4dBlock(6, zero_init=False).double().train()
    x = torch.randn(8, 6, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    out = block(x, units=4)
    (dx,) = torch.autograd.grad(out.sum(), x)
    block.attention_chain = None
    ref = block(x, units=4)
    (ref_dx,) = torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dx, ref_dx, rtol=1e-10, atol=1e-10)


def test_bf16_autocast_training_runs_and_follows_float32():
    """Under autocast the chain sees bf16 tensors next to float32 sums; its backward mixes
    them as autograd would. Gradients agree with float32 to bf16 precision."""
    torch.manual_seed(0)
    block = Residual4dBlock(8, zero_init=False).train()
    x = torch.randn(8, 8, 4, 3, 3).to(memory_format=torch.channels_last_3d)
    params = list(block.parameters())
    want = torch.autograd.grad(block(x, units=4).square().mean(), params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(x, units=4)
    got = torch.autograd.grad(out.float().square().mean(), params)
    for g, r in zip(got, want):
        assert g.dtype == r.dtype == torch.float32
        torch.testing.assert_close(g, r, rtol=0.1, atol=0.02)


def test_torch_compile_traces_the_chain():
    torch.manual_seed(0)
    block = Residual4dBlock(6, zero_init=False).train()
    x = torch.randn(4, 6, 2, 3, 3)
    want = torch.autograd.grad(block(x, units=2).sum(), list(block.parameters()))
    compiled = torch.compile(block, backend="eager")
    got = torch.autograd.grad(compiled(x, units=2).sum(), list(block.parameters()))
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("dim", [2, 3])
def test_reduced_precision_sums_follow_float64(dim):
    """bf16 sums over S or C go through a product with ones (no float32 copy); the result is
    the float64 sum to bf16 rounding, and float32 keeps torch's own sum."""
    from f4d.nn.chain import _sum

    v = torch.randn(2, 3, 49, 16, dtype=torch.float64)
    ref = v.sum(dim)
    got = _sum(v.bfloat16(), dim)
    assert got.dtype == torch.bfloat16 and got.shape == ref.shape
    torch.testing.assert_close(got.double(), ref, rtol=2e-2, atol=0.1)
    torch.testing.assert_close(_sum(v.float(), dim), ref.float(), rtol=1e-5, atol=1e-5)
