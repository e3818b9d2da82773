"""One inference entry: :func:`for_inference` prepares a trained model once for fast prediction.

What it does to a copy of the model (the original is left as it was, so it can still be
trained, saved or exported in float32):

1. eval mode, no gradients;
2. every BatchNorm that directly follows a convolution is folded into it once (the weights
   and a bias; :data:`FOLD_PAIRS` names the pairs, plus a 4D block's ``Conv4d`` and norm where
   no attention sits between them), in float32, instead of on every call;
3. in bf16/fp16, the weights are stored once in that dtype (channels_last_3d), while the
   BatchNorms that cannot be folded (the 4D block's, after the attention) keep float32
   statistics; no weight is cast per call. The head (global pool + classifier) runs in
   float32 on the float32 feature map: the logits are never rounded to bf16's 8 mantissa
   bits, which lowers the logit error of every model at no measurable cost (the pool over the
   last feature map costs the same in either dtype). On a CPU there is no autocast (its fp32
   list would run max-pooling and sums in float32, casting full activations there and back);
   on CUDA the backbone runs under autocast, which keeps softmax and norms in float32;
4. on a CPU, every folded ResNet block runs as oneDNN convolutions with the ReLU and the
   residual add fused in, V4D's 4D block as one convolution with its ReLU, and F4D's
   factorized op with its spatial convolution and ReLU as one (:mod:`f4d.models.fused`);
5. the float32 input is cast once (on a CPU straight into channels-last order); the logits
   come back as float32.

Measured on a 2-core Intel Xeon with AMX: see ``docs/benchmarks.md`` ("Issue 23: bf16 on CPU").
"""

from __future__ import annotations

import contextlib
import copy
import itertools

import torch
from torch import Tensor, nn

from f4d.models.fused import can_fuse, fuse_blocks
from f4d.models.precision import PRECISION_DTYPES, resolve_precision
from f4d.models.resnet3d import BasicBlock3d, Bottleneck3d, VideoResNet
from f4d.nn import Residual4dBlock
from f4d.ops.conv4d import Conv4d
from f4d.ops.factorized import Factorized4d
from f4d.ops.fold import fold_batch_norm

__all__ = ["FOLD_PAIRS", "InferenceModel", "fold_batch_norms", "for_inference"]

# module class -> (convolution, BatchNorm) attribute pairs its forward computes as
# norm(conv(x)) (resnet3d.conv_norm, Factorized4d's spatial half, the stem); nn.Sequential
# is handled apart (any adjacent Conv3d, BatchNorm)
FOLD_PAIRS: dict[type[nn.Module], tuple[tuple[str, str], ...]] = {
    VideoResNet: (("conv1", "bn1"),),
    BasicBlock3d: (("conv1", "bn1"), ("conv2", "bn2")),
    Bottleneck3d: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
    Factorized4d: (("spatial", "norm"),),
}


class InferenceModel(nn.Module):
    """A model prepared by :func:`for_inference`: float32 ``(B, U, C, T, H, W)`` in, float32
    logits ``(B, K)`` out, computed in ``precision`` (``"fp32"``, ``"bf16"`` or ``"fp16"``).

    ``model`` is the prepared copy (its TA/STA modules still record maps for ``--explain``);
    ``model_name``, ``model_args`` and ``num_classes`` are the original's.
    """

    def __init__(self, model: nn.Module, *, device: torch.device, precision: str) -> None:
        super().__init__()
        self.model = model
        self.device = device
        self.precision = precision
        self.dtype = PRECISION_DTYPES[precision]
        self.precision_note: str | None = None  # why this precision, when a caller chose it
        for name in ("model_name", "model_args", "num_classes"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))
        super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, U, C, T, H, W)`` (any float dtype, any device) -> float32 logits ``(B, K)``."""
        x = self._input(x)
        with torch.no_grad():
            if not _split_head(self.model):
                with self._autocast():
                    return self.model(x).float()
            with self._autocast():
                features = self.model.forward_features(x)
            # the head (global pool + classifier) in float32, see for_inference
            return self.model.forward_head(features.float()).float()

    def _input(self, x: Tensor) -> Tensor:
        """``x`` on the device in the compute dtype. With fused CPU modules, a 6D batch is cast
        straight into the channels-last order ``(B, U, T, H, W, C)`` in memory (one pass), so
        the rows ``(B·U, C, T, H, W)`` the model takes are channels_last_3d views, as the fused
        stem wants them; before, the cast and oneDNN's own reorder were two passes."""
        if x.ndim != 6 or not can_fuse(self.device):
            return x.to(self.device, self.dtype, non_blocking=True)
        # (B, U, T, H, W, C) made contiguous in one pass: 2.9 ms for f4d_r50's 1 × 4 × 8 × 224²
        # batch, against 10.2 ms for a copy_ into a permuted empty tensor
        last = x.permute(0, 1, 3, 4, 5, 2).to(
            self.device, self.dtype, memory_format=torch.contiguous_format
        )  # fmt: skip
        last = last.contiguous()  # `to` returns the view itself when dtype and device match
        return last.permute(0, 1, 5, 2, 3, 4)  # (B, U, C, T, H, W), channels last in memory

    def _autocast(self) -> contextlib.AbstractContextManager:
        # CPU: none. Its autocast runs max-pooling and sums in float32 (two casts of a full
        # activation each), and every weight is already in the compute dtype.
        if self.precision == "fp32" or self.device.type != "cuda":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def train(self, mode: bool = True) -> InferenceModel:
        """Stays in eval mode: BatchNorms are folded, so this copy cannot be trained."""
        if mode:
            raise RuntimeError(
                "an InferenceModel cannot be trained (its BatchNorms are folded); "
                "train the original model"
            )
        return super().train(False)

    def extra_repr(self) -> str:
        return f"precision={self.precision}, device={self.device}"


def for_inference(
    model: nn.Module,
    device: str | torch.device = "cpu",
    precision: str = "auto",
    *,
    inplace: bool = False,
) -> InferenceModel:
    """A copy of ``model`` prepared for inference on ``device`` in ``precision``.

    ``precision``: ``auto`` (bf16 on CUDA and on CPUs with Intel AMX, else fp32), ``fp32``,
    ``bf16`` (on any CPU; without bf16 hardware it is correct but slower) or ``fp16`` (CUDA
    only), see :mod:`f4d.models.precision`. Returns an :class:`InferenceModel` taking the usual
    float32 ``(B, U, C, T, H, W)`` batch and returning float32 logits ``(B, K)``; its
    ``precision`` attribute says what runs. ``model`` itself is not changed, unless
    ``inplace=True`` (a loader's own copy: saves the copy's memory and time).
    """
    if isinstance(model, InferenceModel):
        raise ValueError("the model is already prepared for inference; pass the original model")
    device = torch.device(device)
    resolved = resolve_precision(precision, device)
    prepared = model if inplace else copy.deepcopy(model)
    prepared = prepared.to(device).eval().requires_grad_(False)
    fold_batch_norms(prepared)
    if resolved != "fp32":
        _store_in(prepared, PRECISION_DTYPES[resolved])
    if can_fuse(device):
        fuse_blocks(prepared)
    return InferenceModel(prepared, device=device, precision=resolved)


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every eval-mode BatchNorm that directly follows a convolution into that convolution
    (weight and bias), replacing the norm by ``nn.Identity``; in place. Returns how many.

    Only for a model in eval mode (running statistics), never to be trained again.
    """
    count = 0
    for module in list(model.modules()):
        for conv_name, norm_name in _pairs(module):
            count += _fold_pair(module, conv_name, norm_name)
    return count


def _pairs(module: nn.Module) -> tuple[tuple[str, str], ...]:
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        return tuple(
            (a, b) for a, b in itertools.pairwise(names)
            if isinstance(module._modules[a], nn.Conv3d)
        )  # fmt: skip
    if isinstance(module, Residual4dBlock):
        # op -> norm directly only without attention in between (which runs on op's output)
        direct = not module.attention and module.attention_chain is None
        return (("op", "norm"),) if direct and isinstance(module.op, Conv4d) else ()
    return FOLD_PAIRS.get(type(module), ())


def _fold_pair(owner: nn.Module, conv_name: str, norm_name: str) -> int:
    conv, norm = getattr(owner, conv_name), getattr(owner, norm_name)
    folded = fold_batch_norm(conv.weight, conv.bias, norm)
    if folded is None:  # not a BatchNorm in eval mode (already folded, or another norm)
        return 0
    weight, bias = folded
    conv.weight = nn.Parameter(weight.detach(), requires_grad=False)
    conv.bias = nn.Parameter(bias.detach(), requires_grad=False)
    setattr(owner, norm_name, nn.Identity())
    return 1


def _split_head(model: nn.Module) -> bool:
    """``model`` computes ``forward_head(forward_features(x))``: its head can run apart."""
    return all(hasattr(model, n) for n in ("forward_features", "forward_head", "get_classifier"))


def _store_in(model: nn.Module, dtype: torch.dtype) -> None:
    """Parameters in ``dtype`` (channels_last_3d for 5D weights); BatchNorms and the classifier
    (of a model with a separate head) stay float32, with their exact float32 values."""
    kept = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if _split_head(model):
        kept.append(model.get_classifier())
    saved = [copy.deepcopy(m.state_dict()) for m in kept]  # not rounded through ``dtype``
    model.to(dtype=dtype, memory_format=torch.channels_last_3d)
    for module, state in zip(kept, saved, strict=True):
        module.float().load_state_dict(state)
