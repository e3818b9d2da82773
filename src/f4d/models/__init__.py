"""f4d.models: video ResNets (TSN, TSM, I3D, slow, V4D, F4D), registry, inflation, profiling."""

from f4d.models import zoo as _zoo  # noqa: F401  (registers the models)
from f4d.models.inference import InferenceModel, for_inference
from f4d.models.inflate import InflateReport, inflate_from_2d
from f4d.models.precision import PRECISIONS, cpu_supports_bf16, resolve_precision
from f4d.models.profile import ProfileResult, profile_model
from f4d.models.registry import create_model, is_model, list_models, register_model
from f4d.models.resnet3d import (
    DEPTHS,
    TEMPORAL_PATTERNS,
    BasicBlock3d,
    Bottleneck3d,
    VideoResNet,
    resolve_placement,
)

__all__ = [
    "DEPTHS",
    "PRECISIONS",
    "TEMPORAL_PATTERNS",
    "BasicBlock3d",
    "Bottleneck3d",
    "InferenceModel",
    "InflateReport",
    "ProfileResult",
    "VideoResNet",
    "cpu_supports_bf16",
    "create_model",
    "for_inference",
    "inflate_from_2d",
    "is_model",
    "list_models",
    "profile_model",
    "register_model",
    "resolve_placement",
    "resolve_precision",
]
