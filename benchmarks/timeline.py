"""``f4d predict --timeline`` on long videos: real-time factor and peak RSS (issue 25).

Builds long videos from the synthetic dataset's test clips (each a labelled 4 s video; their
order gives true segments), at the training frame rate and size, then times
:func:`f4d.engine.timeline.predict_timeline` end to end (decoding included) in a fresh process
per run, which also reports its peak RSS (``ru_maxrss``). Runs are interleaved (10 min,
2 h, 10 min, ...), so a drift of the shared machine hits both lengths alike.

    python benchmarks/timeline.py tiny --checkpoint RUN --data DATA_ROOT --out DIR
    python benchmarks/timeline.py r50 --out DIR          # untrained f4d_r50, 224², fp32

``tiny`` also writes the docs' example: ``timeline_example.png`` (a 48 s video of 12 test
clips, predicted vs true segments).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path


def _child(checkpoint: str, video: str, window: float | None, hop: float | None,
           batch: int, threads: int, precision: str) -> None:  # fmt: skip
    """One timed run in this fresh process; prints one JSON line."""
    start = time.perf_counter()
    import torch

    if threads:
        torch.set_num_threads(threads)
    from f4d.engine.predict import load_predictor
    from f4d.engine.timeline import predict_timeline

    predictor = load_predictor(checkpoint, device="cpu", precision=precision)
    loaded = time.perf_counter()
    result = predict_timeline(predictor, video, window_s=window, hop_s=hop, batch=batch)
    end = time.perf_counter()
    print(json.dumps({
        "video_s": result.duration_s, "windows": len(result.windows),
        "window_s": result.window_frames / result.fps, "hop_s": result.hop_frames / result.fps,
        "window_source": result.window_source, "timeline_s": end - loaded,
        "process_s": end - start, "rtf": result.duration_s / (end - loaded),
        "windows_per_s": len(result.windows) / (end - loaded),
        "frames_held_peak": result.frames_held_peak,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": __import__("torch").get_num_threads(), "batch": batch,
        "precision": str(predictor.model.precision),
    }))  # fmt: skip


def run_child(checkpoint: Path, video: Path, window: float | None = None,
              hop: float | None = None, batch: int = 8, threads: int = 0,
              precision: str = "auto") -> dict:  # fmt: skip
    argv = [sys.executable, __file__, "child", str(checkpoint), str(video),
            str(window or ""), str(hop or ""), str(batch), str(threads), precision]  # fmt: skip
    load = os.getloadavg()[0]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return {**json.loads(out.strip().splitlines()[-1]), "video": video.name, "load_1min": load}


# ------------------------------------------------------------------------------ videos


def test_clips(data: Path) -> list[tuple[Path, str]]:
    """``(path, class name)`` of the synthetic dataset's test clips, in list order."""
    classes = (data / "classes.txt").read_text().split("\n")
    rows = list(csv.reader((data / "test.csv").open()))
    return [(data / row[0], classes[int(row[1])] if row[1].isdigit() else row[1]) for row in rows
            if row and row[0] != "path"]  # fmt: skip


def concat_clips(clips: list[tuple[Path, str]], seconds: float, out: Path) -> list[tuple]:
    """Write ``out`` (H.264, the clips' rate and size) from the clips, cycled until ``seconds``
    of video; returns the true segments ``(start_s, end_s, class)``."""
    import av
    import numpy as np

    decoded = []
    for path, name in clips:
        with av.open(str(path)) as c:
            rate = c.streams.video[0].average_rate
            decoded.append((np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]),
                            name))  # fmt: skip
    fps = float(rate)
    total = round(seconds * fps)
    truth, written = [], 0
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(rate),
                                      options={"preset": "ultrafast", "crf": "18"})  # fmt: skip
        stream.height, stream.width = decoded[0][0].shape[1:3]
        stream.pix_fmt = "yuv420p"
        k = 0
        while written < total:
            frames, name = decoded[k % len(decoded)]
            frames = frames[: total - written]
            truth.append((written / fps, (written + len(frames)) / fps, name))
            for image in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            written += len(frames)
            k += 1
        container.mux(stream.encode(None))
    return truth


# ------------------------------------------------------------------------------ cases


def bench_tiny(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clips = test_clips(Path(args.data))
    videos = {}
    for label, seconds in (("10min", 600.0), ("2h", 7200.0)):
        path = out / f"long_{label}.mp4"
        if not path.exists():
            tic = time.perf_counter()
            concat_clips(clips, seconds, path)
            print(f"wrote {path} in {time.perf_counter() - tic:.0f} s", flush=True)
        videos[label] = path
    runs = []
    for case in args.order.split(","):  # 10min@1@fp32: the 10-minute video, 1 thread, fp32
        parts = case.split("@")
        threads = int(parts[1]) if len(parts) > 1 else 0
        precision = parts[2] if len(parts) > 2 else "fp32"
        run = run_child(Path(args.checkpoint), videos[parts[0]], threads=threads,
                        precision=precision)  # fmt: skip
        print(json.dumps(run), flush=True)
        runs.append({"case": case, **run})
    example = None if args.no_example else docs_example(Path(args.checkpoint), clips, out)
    return {"runs": runs, "example": example}


def docs_example(checkpoint: Path, clips: list[tuple[Path, str]], out: Path) -> dict:
    """A 48 s video of 12 consecutive test clips: timeline PNG with the true segments."""
    from f4d.engine.predict import load_predictor
    from f4d.engine.timeline import Segment, predict_timeline, write_outputs
    from f4d.engine.timeline_render import save_timeline_png

    video = out / "example_12_clips.mp4"
    truth = concat_clips(clips[:12], 48.0, video)
    predictor = load_predictor(checkpoint, device="cpu")
    result = predict_timeline(predictor, video)
    write_outputs(result, out / "example")
    index = {name: i for i, name in enumerate(predictor.classes)}
    true = [Segment(a, b, index[name], name, 1.0) for a, b, name in truth]
    png = save_timeline_png(result, out / "timeline_example.png", truth=true)
    hits = sum(_true_class(truth, (w.start + w.stop) / 2 / result.fps) == w.topk[0][1]
               for w in result.windows)  # fmt: skip
    aligned = [w for w in result.windows if (w.start / result.fps) % 4 == 0]
    aligned_hits = sum(_true_class(truth, w.start / result.fps + 2) == w.topk[0][1]
                       for w in aligned)  # fmt: skip
    return {"png": str(png), "windows": len(result.windows), "centre_class_hits": hits,
            "aligned_windows": len(aligned), "aligned_hits": aligned_hits,
            "segments": len(result.segments), "true_segments": len(truth)}  # fmt: skip


def _true_class(truth: list[tuple], second: float) -> str:
    return next(name for a, b, name in truth if a <= second < b)


def bench_r50(args: argparse.Namespace) -> dict:
    import av
    import numpy as np
    import torch

    from f4d.engine.checkpoint import save_checkpoint
    from f4d.models import create_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = create_model("f4d_r50", num_classes=174)
    data = {"units": 4, "frames": 8, "stride": 4, "size": 224, "scale_size": 256}
    ckpt = save_checkpoint(out / "r50", model=model, optimizer=None, scheduler=None,
                           scaler=None, epoch=0, step=0, best_metric=None,
                           config={"data": data}, classes=[str(i) for i in range(174)],
                           tag="best")  # fmt: skip
    video = out / "r50_30s.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 340, 256, "yuv420p"
        base = rng.integers(0, 255, size=(256, 340, 3), dtype=np.uint8)
        for i in range(750):  # 30 s at 25 fps
            image = np.roll(base, 3 * i, axis=1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    runs = [run_child(ckpt, video, batch=args.batch, threads=threads, precision=precision)
            for _ in range(args.rounds) for threads in args.threads
            for precision in args.precisions]  # fmt: skip
    for run in runs:
        print(json.dumps(run), flush=True)
    return {"runs": runs}


def main() -> None:
    if sys.argv[1:2] == ["child"]:
        _, _, checkpoint, video, window, hop, batch, threads, precision = sys.argv
        _child(checkpoint, video, float(window) if window else None,
               float(hop) if hop else None, int(batch), int(threads), precision)  # fmt: skip
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=("tiny", "r50"))
    parser.add_argument("--checkpoint", help="trained f4d_tiny run (tiny)")
    parser.add_argument("--data", help="the synthetic dataset's root (tiny)")
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--order",
        default="10min@1,2h@1,10min@1,10min@0,10min@1,10min@0",
        help="tiny: runs in order, LENGTH@THREADS (0: torch's default)",
    )
    parser.add_argument("--no-example", action="store_true", help="tiny: skip the docs PNG")
    parser.add_argument("--rounds", type=int, default=2, help="r50: runs")
    parser.add_argument("--batch", type=int, default=2, help="r50: windows per forward")
    parser.add_argument(
        "--threads",
        type=lambda t: [int(x) for x in t.split(",")],
        default=[0, 1],
        help="r50: torch threads per run (0: default)",
    )
    parser.add_argument(
        "--precisions",
        type=lambda t: t.split(","),
        default=["fp32", "auto"],
        help="r50: precisions per run (auto: bf16 on bf16 CPUs)",
    )
    args = parser.parse_args()
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), "?")
    report = {"cpu": cpu, "cores": os.cpu_count(), "load_before": os.getloadavg()}
    report.update(bench_tiny(args) if args.case == "tiny" else bench_r50(args))
    report["load_after"] = os.getloadavg()
    path = Path(args.out) / f"timeline_{args.case}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
