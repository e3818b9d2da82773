"""`f4d export`: write a trained (or untrained) model as ONNX or TorchScript.

f4d export runs/f4d_r50/best.safetensors --format onnx --out f4d_r50.onnx --units 4 --frames 8
f4d export --model f4d_tiny --num-classes 10 --format torchscript --out tiny.pt --size 32
"""

from __future__ import annotations

import argparse

from f4d.cli.options import MAX_COUNT, MAX_FRAMES, MAX_SIZE, int_in, model_name, writable_file
from f4d.engine.export import EXPORTERS, FORMATS
from f4d.errors import OptionError


def register(subparsers) -> None:
    """Add `f4d export`."""
    p = subparsers.add_parser("export", help="export a model to ONNX or TorchScript")
    p.add_argument(
        "checkpoint",
        nargs="?",
        default=None,
        help="checkpoint (.safetensors, or its folder/tag); or use --model",
    )
    frames = int_in(1, MAX_FRAMES)
    p.add_argument("--model", type=model_name, default=None,
                   help="registry name of an untrained model to export")  # fmt: skip
    p.add_argument("--num-classes", type=int_in(1, MAX_COUNT), default=None,
                   help="classes K, with --model")  # fmt: skip
    p.add_argument("--format", choices=FORMATS, default="onnx")
    p.add_argument("--out", type=writable_file, required=True, help="file to write")
    p.add_argument("--units", type=frames, default=None, help="U (default: checkpoint config or 4)")
    p.add_argument("--frames", type=frames, default=None,
                   help="T (default: checkpoint config or 8)")  # fmt: skip
    p.add_argument("--size", type=int_in(1, MAX_SIZE), default=None,
                   help="H = W (default: config or 224)")  # fmt: skip
    p.add_argument("--opset", type=int_in(7, 30), default=18, help="ONNX opset")
    p.add_argument(
        "--exporter",
        choices=EXPORTERS,
        default="auto",
        help="ONNX exporter: dynamo, legacy (TorchScript-based), auto (dynamo first)",
    )
    p.add_argument("--static-batch", action="store_true", help="fix the batch axis")
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="skip re-running the exported file and comparing with PyTorch",
    )
    p.set_defaults(func=run)  # fmt: skip


def _load(args: argparse.Namespace):
    """(model, shape defaults from the checkpoint's saved data config, or {})."""
    if (args.checkpoint is None) == (args.model is None):
        raise OptionError("give either a CHECKPOINT or --model NAME (not both, not neither)")
    if args.model is not None:
        from f4d.models import create_model

        if args.num_classes is None:
            raise OptionError("--model needs --num-classes K (K >= 1)")
        return create_model(args.model, args.num_classes).eval(), {}
    from f4d.engine.checkpoint import load_for_inference

    model, _, meta = load_for_inference(args.checkpoint)
    return model, _saved_shape(args.checkpoint, meta)


def _saved_shape(path: str, meta: dict) -> dict:
    """U, T and crop size from the run config saved with the checkpoint ({} if none)."""
    from f4d.engine.checkpoint import CheckpointError, load_training_state

    config = meta.get("config")
    if config is None:
        try:
            config = load_training_state(path).get("config")
        except CheckpointError:
            config = None
    data = (config or {}).get("data") or {}
    return {k: int(data[k]) for k in ("units", "frames", "size") if k in data}


def run(args: argparse.Namespace) -> int:
    """Export, then (unless --no-verify) re-run the file and print the max difference."""
    from f4d.engine.export import export_model, require_onnx_packages, verify_export

    if args.format == "onnx":  # before loading anything: the extra may be missing
        require_onnx_packages(("onnx", "onnxscript") + (() if args.no_verify else ("onnxruntime",)))
    model, saved = _load(args)
    shape = {"units": 4, "frames": 8, "size": 224} | saved
    shape |= {k: getattr(args, k) for k in shape if getattr(args, k) is not None}
    result = export_model(
        model, args.out, format=args.format, opset=args.opset, exporter=args.exporter,
        dynamic_batch=not args.static_batch, **shape,
    )  # fmt: skip
    batch = "dynamic" if result.dynamic_batch else "static"
    print(f"wrote {result.path} ({result.format} via {result.exporter}; input "
          f"(B, U, C, T, H, W) = {result.input_shape} with {batch} batch)")  # fmt: skip
    if not args.no_verify:
        diff = verify_export(model, result)
        print(f"re-ran the exported file: max |exported - PyTorch| = {diff:.2e}")
    return 0
