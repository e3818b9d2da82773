"""``f4d predict VIDEO [VIDEO ...] --checkpoint PATH``: top-k classes, optional attention maps."""

from __future__ import annotations

import argparse
import json
import sys

from f4d.cli.options import (
    MAX_COUNT,
    MAX_FRAMES,
    add_precision_option,
    device_name,
    int_in,
    new_or_writable_dir,
    video_input,
)
from f4d.cli.timeline import add_timeline_options, check_timeline_args, run_timeline


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` sub-command."""
    parser = subparsers.add_parser(
        "predict",
        help="top-k classes of video files with a trained checkpoint",
        description=(
            "Predict the top-k classes of one or more videos (files or frame folders) with a "
            "trained checkpoint: U units of T frames (test sampling), short side to scale_size, "
            "1 or 3 crops; the logits of the crops (views) are averaged, as f4d test does. "
            "--views single (default) = f4d test test.views=single: data.units units, one "
            "size x size centre crop. --views multi = f4d test's default multi-view: "
            "data.test_units units x data.test_crops crops of scale_size resized to size. "
            "Precedence: --units/--crops/--frames/--stride > the checkpoint's training config "
            "(data.units, or data.test_units/data.test_crops for multi) > built-in defaults "
            "(U=4 single; U=10 x 3 crops multi)."
        ),
    )
    parser.add_argument("videos", nargs="+", type=video_input, metavar="VIDEO",
                        help="video file or frame folder")  # fmt: skip
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint .safetensors, its stem, or a run folder"
    )
    parser.add_argument("--topk", type=int_in(1, MAX_COUNT), default=5,
                        help="classes to show (default 5)")  # fmt: skip
    parser.add_argument(
        "--views",
        choices=("single", "multi"),
        default="single",
        help="f4d test view mode: single (data.units, 1 centre crop; default) or multi "
        "(data.test_units x data.test_crops, the paper's U=10 x 3 crops)",
    )
    parser.add_argument(
        "--crops",
        type=int,
        choices=(1, 3),
        help="spatial crops (views) averaged: 1 = centre, 3 = left/centre/right (top/centre/"
        "bottom) as in f4d test (default: 1 single, data.test_crops multi)",
    )
    parser.add_argument(
        "--units",
        type=int_in(1, MAX_FRAMES),
        help="action units U (default: data.units single, data.test_units multi)",
    )
    parser.add_argument("--frames", type=int_in(1, MAX_FRAMES),
                        help="frames T per unit (default: as trained)")  # fmt: skip
    parser.add_argument("--stride", type=int_in(1, MAX_FRAMES),
                        help="frame stride in a unit (default: as trained)")  # fmt: skip
    parser.add_argument(
        "--explain",
        metavar="OUT_DIR",
        type=new_or_writable_dir,
        help="write TA weights (PNG) and STA maps over the frames (PNG grid + GIF) per video; "
        "drawn from one view, the centre crop, even when --crops 3 averages three",
    )
    parser.add_argument(
        "--allow-truncated",
        action="store_true",
        help="predict a truncated file (cut short, e.g. a partial download) from the part that "
        "decodes instead of refusing it (as data.allow_truncated=true does in training/testing)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list with one entry per VIDEO, in the order given: its result, or "
        '{"video": ..., "error": ...} for a video that could not be predicted',
    )
    parser.add_argument(
        "--device",
        type=device_name,
        default="auto",
        help="auto (cuda if available), cpu, cuda or cuda:N",
    )
    add_precision_option(parser)
    add_timeline_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the checkpoint, predict every video; exit 1 if any video or the checkpoint fails."""
    from f4d.data.video import TruncatedVideoError
    from f4d.engine.predict import (
        attention_modules,
        explain_dirs,
        load_predictor,
        predict_video,
        predictions_table,
    )

    check_timeline_args(args)
    predictor = load_predictor(
        args.checkpoint, units=args.units, frames=args.frames, stride=args.stride,
        views=args.views, crops=args.crops, device=args.device, precision=args.precision,
    )  # fmt: skip
    print(
        f"clip: {predictor.settings.describe()} (settings from {predictor.settings_source}); "
        f"precision: {predictor.model.precision}",
        file=sys.stderr,
    )
    if predictor.model.precision_note:
        print(predictor.model.precision_note, file=sys.stderr)
    if args.timeline:
        return run_timeline(args, predictor)
    out_dirs: list = [None] * len(args.videos)
    if args.explain:
        ta, sta = attention_modules(predictor.model)
        name = getattr(predictor.model, "model_name", type(predictor.model).__name__)
        if ta or sta:
            out_dirs = explain_dirs(args.videos, args.explain)
            for folder in out_dirs:  # an output that cannot be written stops here (exit 5)
                folder.mkdir(parents=True, exist_ok=True)
        else:
            print(
                f"--explain: model '{name}' has no temporal (TA) or spatio-temporal (STA) "
                "attention modules; nothing to explain, predicting only",
                file=sys.stderr,
            )
    predictions, entries, failed = [], [], 0
    for video, out_dir in zip(map(str, args.videos), out_dirs):
        try:
            prediction = predict_video(
                predictor, video, topk=args.topk, explain_dir=out_dir,
                allow_truncated=args.allow_truncated,
            )  # fmt: skip
        except (ValueError, OSError) as err:  # VideoDecodeError is a ValueError
            failed += 1
            message = str(err) if str(video) in str(err) else f"{video}: {err}"
            if isinstance(err, TruncatedVideoError):
                message += "; --allow-truncated predicts from the part that decodes"
            print(f"error: {message}", file=sys.stderr)
            entries.append({"video": video, "error": message})
            continue
        if prediction.truncated:
            print(f"note: {video}: {prediction.truncated}; predicted from the part that decodes",
                  file=sys.stderr)  # fmt: skip
        predictions.append(prediction)
        entries.append(prediction.to_dict())
    if args.json:
        print(json.dumps(entries, indent=2))
    elif predictions:
        print(predictions_table(predictions))
    return 1 if failed else 0
