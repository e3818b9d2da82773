"""``f4d predict VIDEO --checkpoint RUN --timeline``: which actions, when, in a long video."""

from __future__ import annotations

import argparse
import json
import sys
import time

from f4d.cli.options import (
    MAX_BATCH,
    MAX_WORKERS,
    int_in,
    new_or_writable_dir,
    positive_float,
    probability,
)

TIMELINE_ONLY = ("window", "hop", "min_score", "out", "render", "batch", "threads")


def add_timeline_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--timeline`` and the options that only make sense with it."""
    group = parser.add_argument_group(
        "timeline (long videos)",
        "slide a window of --window seconds every --hop seconds over ONE video; each window is "
        "predicted exactly as f4d predict predicts a video of that window's frames; one decode "
        "pass, memory bounded by the window, not the video (docs/long_videos.md)",
    )
    group.add_argument("--timeline", action="store_true", help="predict windows over time")
    group.add_argument("--window", type=positive_float, metavar="S",
                       help="window length in seconds (default: the median length of the "
                       "training videos recorded in the checkpoint, else the clip span "
                       "U*T*stride frames)")  # fmt: skip
    group.add_argument(
        "--hop",
        type=positive_float,
        metavar="S",
        help="seconds between window starts (default: half the window)",
    )
    group.add_argument("--min-score", type=probability, default=0.0, metavar="P",
                       help="windows whose top-1 probability is below P belong to no segment "
                       "(default 0)")  # fmt: skip
    group.add_argument(
        "--out",
        type=new_or_writable_dir,
        metavar="DIR",
        help="write timeline.json, segments.csv and timeline.png into DIR",
    )
    group.add_argument("--render", action="store_true",
                       help="with --out: also write labelled.mp4, the video with each segment's "
                       "class drawn on its frames (decodes the video a second time)")  # fmt: skip
    group.add_argument(
        "--batch", type=int_in(1, MAX_BATCH), default=8, help="windows per forward pass (default 8)"
    )
    group.add_argument(
        "--threads",
        type=int_in(1, MAX_WORKERS),
        metavar="N",
        help="torch intra-op threads (default: torch's, one per core); 1 is "
        "faster for tiny models and on a busy machine (docs/long_videos.md)",
    )


def check_timeline_args(args: argparse.Namespace) -> None:
    """Refuse (`OptionError`, exit 2) timeline options without ``--timeline`` and impossible
    combinations, before the checkpoint is loaded."""
    from f4d.errors import OptionError

    given = [f"--{n.replace('_', '-')}" for n in TIMELINE_ONLY if _given(args, n)]
    if not args.timeline and given:
        raise OptionError(f"{', '.join(given)} need --timeline")
    if not args.timeline:
        return
    if len(args.videos) != 1:
        raise OptionError(f"--timeline takes one VIDEO, got {len(args.videos)}")
    if args.explain:
        raise OptionError("--explain does not work with --timeline")
    if args.render and not args.out:
        raise OptionError("--render needs --out DIR")


def _given(args: argparse.Namespace, name: str) -> bool:
    value = getattr(args, name)
    defaults = {"min_score": 0.0, "batch": 8, "render": False}
    return value is not None and value != defaults.get(name)


def run_timeline(args: argparse.Namespace, predictor) -> int:
    """Predict the windows of ``args.videos[0]``; print a table or JSON; exit 1 on a bad video."""
    from f4d.data.decode import TruncatedVideoError
    from f4d.engine.timeline import predict_timeline, timeline_table, write_outputs

    video = args.videos[0]
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    try:
        timeline = predict_timeline(
            predictor, video, window_s=args.window, hop_s=args.hop, topk=args.topk,
            min_score=args.min_score, batch=args.batch, allow_truncated=args.allow_truncated,
            progress=sys.stderr.isatty(),
        )  # fmt: skip
    except (ValueError, OSError) as err:  # VideoDecodeError, TimelineError are ValueErrors
        message = str(err) if str(video) in str(err) else f"{video}: {err}"
        if isinstance(err, TruncatedVideoError):
            message += "; --allow-truncated makes a timeline up to the cut"
        print(f"error: {message}", file=sys.stderr)
        return 1
    _report_speed(timeline, time.perf_counter() - start)
    for note in timeline.notes:
        print(f"note: {video}: {note}", file=sys.stderr)
    if args.out:
        files = write_outputs(timeline, args.out)
        if args.render:
            from f4d.engine.timeline_render import render_video

            files.append(render_video(timeline, args.out / "labelled.mp4",
                                      allow_truncated=args.allow_truncated))  # fmt: skip
        print(f"wrote {', '.join(str(f) for f in files)}", file=sys.stderr)
    print(json.dumps(timeline.to_dict(), indent=2) if args.json else timeline_table(timeline))
    return 0


def _report_speed(timeline, seconds: float) -> None:
    count = len(timeline.windows)
    plural = "s" * (count != 1)
    print(
        f"timeline: {count} window{plural} in {seconds:.2f} s ({count / seconds:.1f} windows/s, "
        f"{timeline.duration_s / seconds:.1f}x real time, decoding included)",
        file=sys.stderr,
    )
