"""Training-loader videos/s of two f4d source trees side by side (issue 24: the one reader).

Each round runs every variant once, each in a fresh process (``PYTHONPATH=<src>``), so a
change of machine load hits them alike; reports the steady rate per round, medians, and the
median of per-round ratios against the first variant. ``<src>#seek`` runs a tree with
``f4d.data.decode.timeline.PACKET_BUDGET_BYTES = 0`` (no packets held: every run seeks).

    git archive <old commit> src | tar -x -C /tmp/old
    python benchmarks/reader_old_vs_new.py --src old=/tmp/old/src --src new=src \
        --src seeking=src#seek --videos ../shared/realdata/videos --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

NAMES = ["mmaction2_test.mp4", "mmaction2_test.avi", "human2bot_task5_0.webm", "decord_video_0.mov"]
CODE = r"""
import json, os, sys
from pathlib import Path
try:
    from f4d.bench.data import bench_data
except ImportError:  # before issue 24 the data benchmark lived in f4d.data.bench
    from f4d.data.bench import bench_data
from f4d.data.formats import DatasetIndex, VideoRecord
if os.environ.get("F4D_SEEK"):
    from f4d.data.decode import timeline
    timeline.PACKET_BUDGET_BYTES = 0
root = Path(sys.argv[1])
index = DatasetIndex(tuple(VideoRecord(root / n, 0) for n in sys.argv[2].split(",")), ("a",))
r = bench_data(index, units=4, frames_per_unit=8, stride=4, size=112, workers=0, num_videos=24)
print(json.dumps({"rate": r["steady_videos_per_s"], "loaded": r["loaded"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", required=True, help="NAME=PATH[#seek]")
    parser.add_argument("--videos", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    trees = dict(s.split("=", 1) for s in args.src)
    runs: dict[str, list[float]] = {name: [] for name in trees}
    for r in range(args.rounds):
        for name, src in trees.items():
            env = {**os.environ, "PYTHONPATH": src.removesuffix("#seek"), "OMP_NUM_THREADS": "1"}
            env.pop("F4D_SEEK", None)
            if src.endswith("#seek"):
                env["F4D_SEEK"] = "1"
            out = subprocess.run([sys.executable, "-c", CODE, args.videos, ",".join(NAMES)],
                                 env=env, capture_output=True, text=True, check=True)  # fmt: skip
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1])["rate"])
            print(r, name, f"{runs[name][-1]:.2f} videos/s", flush=True)
    first = next(iter(trees))
    report = {"videos": NAMES, "load_average": list(os.getloadavg()), "rounds": runs,
              "medians": {k: statistics.median(v) for k, v in runs.items()},
              "ratio_to_" + first: {k: statistics.median(a / b for a, b in zip(v, runs[first]))
                                    for k, v in runs.items()}}  # fmt: skip
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)


if __name__ == "__main__":
    main()
