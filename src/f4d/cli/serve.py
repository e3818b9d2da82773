"""``f4d serve RUN_OR_CHECKPOINT``: the model behind an HTTP API and a web page (uvicorn)."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import socket
import sys

from f4d.cli.options import (
    MAX_COUNT,
    MAX_SIZE,
    MAX_WORKERS,
    add_precision_option,
    device_name,
    int_in,
    positive_float,
)
from f4d.errors import OptionError

_count = int_in(1, MAX_COUNT)

# Measured on CPU (docs/serve.md; benchmarks/serve_batching.py, benchmarks/serve_load.py): one
# forward of 4 waiting requests beat 4 forwards of one (about 2x the throughput and half the
# median latency of a forward-bound f4d_r18 server), and an idle server never waits to batch.
DEFAULT_BATCH = 4


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` sub-command."""
    p = subparsers.add_parser(
        "serve",
        help="serve a trained model over HTTP (API + web page)",
        description=(
            "Load a checkpoint once and serve it: POST /v1/predict (a video upload; the same "
            "numbers as f4d predict), GET /v1/model, GET /healthz, a web page at /, the OpenAPI "
            "schema at /openapi.json. Binds to 127.0.0.1 unless --host says otherwise."
        ),
    )
    p.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT",
                   help="run folder, checkpoint .safetensors, or its stem")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int_in(0, 65535), default=8000, help="port (default 8000; 0 = any free)"
    )
    p.add_argument(
        "--views",
        choices=("single", "multi"),
        default="single",
        help="default f4d test view mode of requests that name none (as f4d predict)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=positive_float,
        default=100.0,
        help="largest upload in MiB; bigger ones get 413 (default 100)",
    )
    p.add_argument(
        "--workers",
        type=int_in(1, MAX_WORKERS),
        default=1,
        help="decode threads (probe + decode + crops in parallel; default 1); the "
        "model runs on one thread with torch's intra-op threads",
    )
    p.add_argument(
        "--batch",
        type=_count,
        default=DEFAULT_BATCH,
        help=f"most waiting requests one forward may hold (default {DEFAULT_BATCH}, "
        "measured; see docs/serve.md)",
    )
    p.add_argument(
        "--queue",
        type=_count,
        default=16,
        help="most requests held at once (decoding, waiting or running); more get "
        "429 with Retry-After (default 16)",
    )
    p.add_argument(
        "--max-frames",
        type=_count,
        default=54_000,
        help="longest video in frames (default 54000 = 30 min at 30 fps)",
    )
    p.add_argument(
        "--max-side",
        type=int_in(1, MAX_SIZE),
        default=4096,
        help="largest frame side in pixels (default 4096)",
    )
    p.add_argument(
        "--decode-timeout",
        type=positive_float,
        default=30.0,
        help="seconds one video may take to decode (default 30)",
    )
    p.add_argument(
        "--explain-ttl",
        type=positive_float,
        default=600.0,
        help="seconds explain files are kept (default 600)",
    )
    p.add_argument(
        "--threads",
        type=int_in(1, MAX_WORKERS),
        default=None,
        help="torch intra-op threads of the model (default: torch's, one per core)",
    )
    p.add_argument("--device", type=device_name, default="auto",
                   help="auto (cuda if available), cpu, cuda or cuda:N")  # fmt: skip
    add_precision_option(p)
    p.add_argument(
        "--log-level", default="info", choices=("critical", "error", "warning", "info", "debug")
    )
    p.set_defaults(func=run)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Bind the address, load the checkpoint and run uvicorn until interrupted."""
    import uvicorn

    from f4d.engine.predict import load_predictor
    from f4d.serve.app import ServeSettings, create_app
    from f4d.serve.worker import Limits

    sock = bind_address(args.host, args.port)  # before the model loads: a busy port is exit 2
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    predictor = load_predictor(
        args.checkpoint, views=args.views, device=args.device, precision=args.precision
    )
    limits = Limits(
        max_upload_mb=args.max_upload_mb, max_frames=args.max_frames, max_side=args.max_side,
        decode_timeout_s=args.decode_timeout,
    )  # fmt: skip
    settings = ServeSettings(
        workers=args.workers, max_batch=args.batch, max_pending=args.queue, limits=limits,
        explain_ttl_s=args.explain_ttl,
    )  # fmt: skip
    name = getattr(predictor.model, "model_name", type(predictor.model).__name__)
    print(f"f4d serve: {name}, {len(predictor.classes)} classes; clip: "
          f"{predictor.settings.describe()}; precision: {predictor.model.precision}",
          file=sys.stderr)  # fmt: skip
    if predictor.model.precision_note:
        print(f"f4d serve: {predictor.model.precision_note}", file=sys.stderr)
    if not _is_loopback(args.host):
        print(f"f4d serve: listening on {args.host}, reachable from other machines; there is "
              "no authentication (see docs/serve.md, security)", file=sys.stderr)  # fmt: skip
    app = create_app(predictor, settings)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"f4d serve: listening on http://{shown}:{port}/ (Ctrl-C to stop)", file=sys.stderr)
    config = uvicorn.Config(app, host=args.host, port=port, log_level=args.log_level)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def bind_address(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket bound to ``host:port`` (as uvicorn binds it), or an
    :class:`OptionError` (exit 2) saying why not: the port is in use, not allowed, or the host
    is not an address of this machine."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as err:
        raise OptionError(
            f"--host {host}: not a known host name or address ({err.strerror})"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise OptionError(f"--host {host} --port {port}: cannot listen there: "
                          f"{err.strerror or err}", hint=_bind_hint(err)) from None  # fmt: skip
    return sock


def _bind_hint(err: OSError) -> str:
    if err.errno == errno.EADDRINUSE:
        return "another program (another f4d serve?) uses it; pick another --port (0 = any free)"
    if err.errno == errno.EACCES:
        return "ports below 1024 need privileges; pick a --port of 1024 or above"
    return "give --host an address of this machine (127.0.0.1, 0.0.0.0 for all)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
