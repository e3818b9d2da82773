"""Builders of bad and odd inputs for the reliability suite: videos, frames, annotations, configs.

Every builder writes into a caller-given folder and returns :class:`BadInput` records. Each record
says what the input is and what a correct library must do with it:

- ``expect="error"``: the input is unusable; the library must raise its documented error type with
  a message naming the file.
- ``expect="decode"``: the input is odd but valid; it must decode (or parse) to correct output.
- ``expect="either"``: both a clean decode and a clean error are acceptable (e.g. a file with
  overwritten payload bytes whose decoder conceals the damage).

Nothing here imports f4d: the inputs are built with PyAV, Pillow and raw bytes only, so they test
the library from the outside. All videos are tiny (a few KiB) so the whole set builds in seconds.
"""

from __future__ import annotations

import json
import os
import random
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

__all__ = [
    "BadInput",
    "annotation_inputs",
    "config_inputs",
    "frame_folder_inputs",
    "gradient_frames",
    "video_inputs",
    "write_frame_folder",
    "write_video",
]

EXPECTS = ("error", "decode", "either")


@dataclass(frozen=True)
class BadInput:
    """One generated input and the behaviour the library owes it.

    ``kind`` is ``video`` | ``frames`` | ``annotation`` | ``config``. ``frames`` is the true number
    of decodable frames for good videos (None when unknown). ``fmt`` names the annotation format and
    ``extra`` holds builder-specific facts (e.g. the class list file of an annotation input).
    """

    name: str
    kind: str
    path: Path
    expect: str
    note: str
    frames: int | None = None
    size: tuple[int, int] | None = None  # (height, width) of good videos
    fmt: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.expect not in EXPECTS:
            raise ValueError(f"expect={self.expect!r}; allowed: {EXPECTS}")

    def as_json(self) -> dict:
        """A JSON-serialisable form, used to hand inputs to a worker subprocess."""
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path),
            "expect": self.expect,
            "note": self.note,
            "frames": self.frames,
            "size": list(self.size) if self.size else None,
            "fmt": self.fmt,
            "extra": self.extra,
        }


# --------------------------------------------------------------------------------------------
# Video writing
# --------------------------------------------------------------------------------------------


def gradient_frames(num: int, height: int, width: int) -> np.ndarray:
    """Frames that say their own index: uint8 ``(N, H, W, 3)``.

    Red is flat at ``10 * i`` (frame ``i`` of up to 25 is identifiable after lossy coding and
    chroma subsampling), green ramps along x and blue along y (gently on tiny frames, so that
    chroma subsampling does not bleed into red).
    """
    frames = np.empty((num, height, width, 3), dtype=np.uint8)
    frames[..., 0] = (10 * np.arange(num) % 256)[:, None, None]
    frames[..., 1] = np.linspace(0, min(200, 8 * width), width, dtype=np.uint8)[None, None, :]
    frames[..., 2] = np.linspace(0, min(200, 8 * height), height, dtype=np.uint8)[None, :, None]
    return frames


def write_video(
    path: Path,
    *,
    frames: int,
    height: int = 32,
    width: int = 32,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    fps: int = 10,
    pts: Iterable[int] | None = None,
    frame_format: str = "rgb24",
    options: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Encode ``frames`` gradient frames into ``path`` (container chosen by the suffix).

    ``pts`` overrides the presentation timestamps (in units of ``1/fps``), for variable frame rate.
    """
    images = gradient_frames(frames, height, width)
    stamps = list(pts) if pts is not None else list(range(frames))
    with av.open(str(path), mode="w") as container:
        container.metadata.update(metadata or {})
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.bit_rate = 4_000_000  # high enough that frame content survives lossy codecs
        if options:
            stream.options = options
        for image, stamp in zip(images, stamps):
            frame = _to_frame(image, frame_format)
            frame.pts = stamp
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _to_frame(image: np.ndarray, frame_format: str) -> av.VideoFrame:
    if frame_format == "gray":
        return av.VideoFrame.from_ndarray(image[..., 0].copy(), format="gray")
    if frame_format == "rgba":
        alpha = np.full((*image.shape[:2], 1), 128, dtype=np.uint8)
        return av.VideoFrame.from_ndarray(np.concatenate([image, alpha], axis=-1), format="rgba")
    return av.VideoFrame.from_ndarray(image, format="rgb24")


def write_audio_only(path: Path, *, codec: str = "aac", seconds: float = 0.5) -> Path:
    """A container holding one audio stream and no video stream."""
    rate = 16000
    samples = int(rate * seconds)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        fmt = stream.codec_context.format.name if stream.codec_context.format else "fltp"
        tone = np.sin(np.arange(samples) / 10.0).astype(np.float32)
        chunk = stream.codec_context.frame_size or 1024
        for start in range(0, samples - chunk + 1, chunk):
            data = tone[None, start : start + chunk]
            if fmt.startswith("s16"):
                data = (data * 32000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# --------------------------------------------------------------------------------------------
# Videos
# --------------------------------------------------------------------------------------------

_TRUNCATE_FRACTIONS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97, 0.995)
_TRUNCATE_BYTES = (1, 4, 8, 12, 32, 64, 200)


def video_inputs(root: Path) -> list[BadInput]:
    """Every bad or odd video file, built under ``root`` (about 110 inputs, a few MiB in all)."""
    root.mkdir(parents=True, exist_ok=True)
    builders: list[Callable[[Path], list[BadInput]]] = [
        _good_references,
        _truncated,
        _empty_and_garbage,
        _wrong_content,
        _no_video_stream,
        _short_videos,
        _odd_resolutions,
        _odd_pixels,
        _variable_frame_rate,
        _wrong_metadata,
        _bit_flips,
        _hostile_headers,
        _not_a_file,
    ]
    return [item for build in builders for item in build(root)]


def _good(
    path: Path, note: str, *, frames: int, size=(32, 32), check_content=True, **kw
) -> BadInput:
    write_video(path, frames=frames, height=size[0], width=size[1], **kw)
    return _video_case(
        path, "decode", note, frames=frames, size=size, extra={"check_content": check_content}
    )


def _video_case(path: Path, expect: str, note: str, **facts) -> BadInput:
    """A video input named after its file."""
    return BadInput(path.name, "video", path, expect, note, **facts)


def _encoded_bytes(path: Path, **kw) -> bytes:
    """The bytes of a valid video (``write_video(path, **kw)``); the file itself is removed."""
    data = write_video(path, **kw).read_bytes()
    path.unlink()
    return data


_CONTAINERS = {  # suffix -> (codec, pix_fmt)
    "mp4": ("libx264", "yuv420p"),
    "avi": ("mpeg4", "yuv420p"),
    "webm": ("libvpx-vp9", "yuv420p"),
    "mkv": ("ffv1", "yuv420p"),
}


def _good_references(root: Path) -> list[BadInput]:
    out = []
    for suffix, (codec, pix_fmt) in _CONTAINERS.items():
        path = root / f"good_{suffix}.{suffix}"
        out.append(
            _good(
                path,
                f"valid {codec} {suffix}, 24 frames 32x32",
                frames=24,
                codec=codec,
                pix_fmt=pix_fmt,
            )
        )
    return out


def _truncated(root: Path) -> list[BadInput]:
    """A valid video cut after k bytes, for many k: header-only, mid-stream and near the end."""
    out = []
    for suffix in ("mp4", "avi", "webm"):
        codec, pix_fmt = _CONTAINERS[suffix]
        data = _encoded_bytes(
            root / f"_src_trunc.{suffix}", frames=24, codec=codec, pix_fmt=pix_fmt
        )
        cuts = {f"{f * 100:05.1f}pct": int(len(data) * f) for f in _TRUNCATE_FRACTIONS}
        cuts.update({f"{n:03d}bytes": n for n in _TRUNCATE_BYTES})
        for label, cut in cuts.items():
            path = root / f"trunc_{suffix}_{label}.{suffix}"
            path.write_bytes(data[:cut])
            note = f"{suffix} truncated to {cut} of {len(data)} bytes"
            out.append(_video_case(path, "error", note, frames=24, extra={"check_content": True}))
    return out


def _empty_and_garbage(root: Path) -> list[BadInput]:
    out = []
    rng = random.Random(8)
    for suffix in ("mp4", "avi", "webm", "mkv", "mov"):
        path = root / f"empty.{suffix}"
        path.write_bytes(b"")
        out.append(_video_case(path, "error", "zero-length file"))
    for i, (suffix, size) in enumerate(
        [("mp4", 16), ("mp4", 4096), ("avi", 4096), ("webm", 4096), ("mkv", 70000), ("mp4", 70000)]
    ):
        path = root / f"random_{i}.{suffix}"
        path.write_bytes(rng.randbytes(size))
        out.append(_video_case(path, "error", f"{size} random bytes as .{suffix}"))
    return out


def _wrong_content(root: Path) -> list[BadInput]:
    """Files that are something else under a video name."""
    out = []
    text = root / "text_as.mp4"
    text.write_text("this is not a video\n" * 50)
    out.append(BadInput("text_as_mp4", "video", text, "error", "plain text renamed .mp4"))
    js = root / "json_as.avi"
    js.write_text(json.dumps({"frames": list(range(100))}))
    out.append(BadInput("json_as_avi", "video", js, "error", "JSON renamed .avi"))
    html = root / "html_as.webm"
    html.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")
    out.append(BadInput("html_as_webm", "video", html, "error", "HTML error page saved as .webm"))
    zero = root / "zeros.mp4"
    zero.write_bytes(bytes(50000))
    out.append(BadInput("zeros_mp4", "video", zero, "error", "50000 zero bytes as .mp4"))
    png = root / "image_as.mp4"
    Image.fromarray(gradient_frames(1, 16, 16)[0]).save(png, format="PNG")
    out.append(BadInput("png_as_mp4", "video", png, "either", "a PNG image renamed .mp4"))
    return out


def _no_video_stream(root: Path) -> list[BadInput]:
    out = []
    for suffix, codec in (("mp4", "aac"), ("mkv", "libopus"), ("avi", "mp2")):
        path = write_audio_only(root / f"audio_only.{suffix}", codec=codec)
        out.append(
            BadInput(
                f"audio_only_{suffix}",
                "video",
                path,
                "error",
                f"{suffix} with one {codec} audio stream, no video",
            )
        )
    return out


def _short_videos(root: Path) -> list[BadInput]:
    """1, 2 and 5 frames: fewer than one unit (T=8 x stride 4) of the default config."""
    out = []
    for frames in (1, 2, 5):
        for suffix in ("mp4", "avi", "webm"):
            codec, pix_fmt = _CONTAINERS[suffix]
            path = root / f"frames{frames}.{suffix}"
            out.append(
                _good(path, f"{frames}-frame {suffix}", frames=frames, codec=codec, pix_fmt=pix_fmt)
            )
    return out


def _odd_resolutions(root: Path) -> list[BadInput]:
    cases = [
        ("large_1080p.mp4", (1080, 1920), "libx264", "yuv420p", 2),
        ("tiny_2x2.mp4", (2, 2), "libx264", "yuv420p", 4),
        ("odd_33x17.mkv", (17, 33), "ffv1", "yuv444p", 4),
        ("odd_17x33.avi", (33, 17), "mjpeg", "yuvj444p", 4),
        ("one_pixel.mkv", (1, 1), "ffv1", "yuv444p", 3),
        ("tall_256x8.mp4", (256, 8), "libx264", "yuv420p", 4),
        ("wide_8x320.webm", (8, 320), "libvpx-vp9", "yuv420p", 4),
    ]
    return [
        _good(
            root / name,
            f"{size[1]}x{size[0]} {codec} {pix}, {n} frames",
            frames=n,
            size=size,
            codec=codec,
            pix_fmt=pix,
        )
        for name, size, codec, pix, n in cases
    ]


def _odd_pixels(root: Path) -> list[BadInput]:
    """Grayscale, alpha and high-depth pixel formats; the decoder must still return RGB."""
    cases = [  # libx264 "gray" leaves the colour range unspecified: content is not compared
        ("gray_ffv1.mkv", "ffv1", "gray", "gray", True),
        ("gray_x264.mp4", "libx264", "gray", "gray", False),
        ("alpha_vp9.webm", "libvpx-vp9", "yuva420p", "rgba", True),
        ("alpha_png.mov", "png", "rgba", "rgba", True),
        ("yuv444_x264.mp4", "libx264", "yuv444p", "rgb24", True),
        ("deep_10bit.mkv", "ffv1", "yuv420p10le", "rgb24", True),
    ]
    out = []
    for name, codec, pix, frame_format, check in cases:
        path = root / name
        out.append(
            _good(
                path,
                f"{codec} {pix}",
                frames=6,
                codec=codec,
                pix_fmt=pix,
                frame_format=frame_format,
                check_content=check,
            )
        )
    return out


def _variable_frame_rate(root: Path) -> list[BadInput]:
    out = []
    irregular = [0, 1, 2, 5, 6, 13, 14, 15, 30, 31, 33, 60]
    out.append(
        _good(
            root / "vfr_irregular.mp4",
            "irregular pts (gaps up to 30 ticks)",
            frames=len(irregular),
            pts=irregular,
            fps=30,
        )
    )
    out.append(
        _good(
            root / "vfr_irregular.mkv",
            "irregular pts in mkv, ffv1",
            frames=len(irregular),
            pts=irregular,
            fps=30,
            codec="ffv1",
        )
    )
    slow = [i * 7 for i in range(10)]
    out.append(
        _good(
            root / "vfr_sparse.webm",
            "pts every 7 ticks at 30 fps (declared rate lies)",
            frames=10,
            pts=slow,
            fps=30,
            codec="libvpx-vp9",
        )
    )
    return out


def _wrong_metadata(root: Path) -> list[BadInput]:
    """AVI headers whose frame count lies (dwTotalFrames and strh dwLength patched)."""
    out = []
    for claimed in (0, 1, 1000, 2**31 - 1):
        path = root / f"avi_claims_{claimed}.avi"
        write_video(path, frames=12, codec="mpeg4")
        _patch_avi_frame_count(path, claimed)
        out.append(
            _video_case(
                path,
                "either",
                f"12-frame AVI whose header claims {claimed} frames",
                frames=12,
                size=(32, 32),
                extra={"claimed": claimed, "check_content": True},
            )
        )
    return out


def _patch_avi_frame_count(path: Path, claimed: int) -> None:
    data = bytearray(path.read_bytes())
    avih = data.find(b"avih")
    struct.pack_into("<I", data, avih + 8 + 16, claimed)  # MainAVIHeader.dwTotalFrames
    strh = data.find(b"strh")
    struct.pack_into("<I", data, strh + 8 + 32, claimed)  # AVIStreamHeader.dwLength
    path.write_bytes(bytes(data))


def _bit_flips(root: Path) -> list[BadInput]:
    """Valid files with random bytes overwritten in the middle (corrupt payload, intact header)."""
    out = []
    rng = random.Random(4)
    for suffix in ("mp4", "avi", "webm"):
        codec, pix_fmt = _CONTAINERS[suffix]
        data = _encoded_bytes(root / f"_src_flip.{suffix}", frames=24, codec=codec, pix_fmt=pix_fmt)
        for k in range(3):
            corrupt = bytearray(data)
            start = len(data) // 4
            for _ in range(20 * (k + 1)):
                corrupt[rng.randrange(start, len(data))] = rng.randrange(256)
            path = root / f"flip_{suffix}_{k}.{suffix}"
            path.write_bytes(bytes(corrupt))
            note = f"{suffix} with {20 * (k + 1)} bytes overwritten"
            out.append(_video_case(path, "either", note, frames=24))
    return out


def _hostile_headers(root: Path) -> list[BadInput]:
    """Valid payloads behind headers a decoder must not trip over: unknown codec, bad text."""
    data = _encoded_bytes(root / "_src_hdr.mp4", frames=4)
    unknown = root / "unknown_codec.mp4"
    unknown.write_bytes(data.replace(b"avc1", b"zzzz"))
    out = [_video_case(unknown, "error", "mp4 whose codec tag is 'zzzz'")]
    for suffix, codec in (("mkv", "ffv1"), ("mp4", "libx264")):
        path = root / f"latin1_title.{suffix}"
        write_video(path, frames=4, codec=codec, metadata={"title": "QQQQQQQQ"})
        path.write_bytes(path.read_bytes().replace(b"QQQQQQQQ", b"\xff\xfe\xa1QQQQQ"))
        note = f"4-frame {suffix} whose title tag is not UTF-8"
        out.append(_video_case(path, "either", note, frames=4))
    return out


def _not_a_file(root: Path) -> list[BadInput]:
    out = [BadInput("missing_mp4", "video", root / "does_not_exist.mp4", "error", "no such file")]
    folder = root / "folder_named.mp4"
    folder.mkdir(exist_ok=True)
    out.append(
        BadInput("dir_named_mp4", "video", folder, "error", "a directory (empty) named .mp4")
    )
    link = root / "dangling.mp4"
    if not link.is_symlink():
        os.symlink(root / "nowhere.mp4", link)
    out.append(BadInput("dangling_symlink", "video", link, "error", "symlink to a missing file"))
    return out


# --------------------------------------------------------------------------------------------
# Frame folders
# --------------------------------------------------------------------------------------------


def write_frame_folder(
    folder: Path, *, frames: int, size=(24, 32), template: str = "{:05d}.jpg", mode: str = "RGB"
) -> Path:
    """``folder/00001.jpg ...``: one image per frame, numbered from 1."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(gradient_frames(frames, *size), start=1):
        picture = Image.fromarray(image[..., 0] if mode == "L" else image)  # L: red = 10 * i
        if mode not in ("RGB", "L"):
            picture = picture.convert(mode)
        picture.save(folder / template.format(i))
    return folder


def frame_folder_inputs(root: Path) -> list[BadInput]:
    """Frame folders: good, empty, gaps, corrupt / zero-byte / non-image members, odd modes."""
    root.mkdir(parents=True, exist_ok=True)
    out: list[BadInput] = []

    def add(name: str, expect: str, note: str, frames=None, size=None) -> Path:
        out.append(BadInput(name, "frames", root / name, expect, note, frames=frames, size=size))
        return root / name

    write_frame_folder(add("ff_good", "decode", "8 RGB jpgs", 8, (24, 32)), frames=8)
    write_frame_folder(add("ff_one", "decode", "a single jpg", 1, (24, 32)), frames=1)
    write_frame_folder(
        add("ff_gray", "decode", "8 grayscale (L) jpgs", 8, (24, 32)), frames=8, mode="L"
    )
    write_frame_folder(
        add("ff_odd_17x33", "decode", "jpgs 33x17", 4, (17, 33)), frames=4, size=(17, 33)
    )
    (root / "ff_empty").mkdir(exist_ok=True)
    add("ff_empty", "error", "an empty folder")
    add("ff_missing_folder", "error", "folder does not exist")
    only_text = root / "ff_only_text"
    only_text.mkdir(exist_ok=True)
    (only_text / "README.txt").write_text("frames were here")
    add("ff_only_text", "error", "folder with no images, one .txt")

    gap = write_frame_folder(add("ff_gap", "either", "frames 1-8 with 00004.jpg removed"), frames=8)
    (gap / "00004.jpg").unlink()
    for name, note, damage in [
        ("ff_zero_byte", "00003.jpg is zero bytes", lambda p: p.write_bytes(b"")),
        (
            "ff_truncated",
            "00003.jpg cut to 100 bytes",
            lambda p: p.write_bytes(p.read_bytes()[:100]),
        ),
        ("ff_text_jpg", "00003.jpg holds text", lambda p: p.write_text("not an image")),
        (
            "ff_random_jpg",
            "00003.jpg holds random bytes",
            lambda p: p.write_bytes(random.Random(3).randbytes(2000)),
        ),
        ("ff_dir_jpg", "00003.jpg is a directory", lambda p: (p.unlink(), p.mkdir())),
        (
            "ff_dangling_jpg",
            "00003.jpg is a dangling symlink",
            lambda p: (p.unlink(), os.symlink(p.parent / "gone.jpg", p)),
        ),
    ]:
        folder = write_frame_folder(add(name, "either", note, 8, (24, 32)), frames=8)
        damage(folder / "00003.jpg")
    mixed = write_frame_folder(
        add("ff_mixed_sizes", "either", "frame 2 is 48x64, others 24x32", 4, (24, 32)), frames=4
    )
    Image.fromarray(gradient_frames(1, 48, 64)[0]).save(mixed / "00002.jpg")
    rgba = write_frame_folder(
        add("ff_rgba_png", "either", "RGBA pngs (00001.png...)", 4, (24, 32)),
        frames=4,
        template="{:05d}.png",
        mode="RGBA",
    )
    del rgba
    return out


# --------------------------------------------------------------------------------------------
# Annotation files
# --------------------------------------------------------------------------------------------

SSV1_LABELS = "something-something-v1-labels.csv"
SSV2_LABELS = "something-something-v2-labels.json"


def annotation_inputs(root: Path) -> list[BadInput]:
    """Broken (and a few valid but odd) annotation sets, one dataset folder per case.

    ``path`` is the list file under test; ``extra["root"]`` is the dataset folder holding it and
    its companion files (class lists). ``extra["bad_line"]`` is the 1-based line the error must
    name (None: any), ``extra["rows"]`` the record count of a valid case and ``extra["escape"]``
    marks paths that leave the root (valid only with ``allow_outside_root=True``);
    ``extra["bad_file"]`` names the file the error must name when it is not the list file.
    """
    out = []
    for fmt, cases in _ANNOTATION_CASES.items():
        for case in cases:
            name, files, list_name, expect, note, facts = case
            folder = root / fmt / name
            folder.mkdir(parents=True, exist_ok=True)
            for file_name, content in files.items():
                data = content.encode() if isinstance(content, str) else content
                (folder / file_name).write_bytes(data)
            extra = {"root": str(folder), "bad_line": None, "rows": None, "escape": False, **facts}
            out.append(
                BadInput(
                    f"{fmt}:{name}",
                    "annotation",
                    folder / list_name,
                    expect,
                    note,
                    fmt=fmt,
                    extra=extra,
                )
            )
    return out


def _csv_case(name, body, expect, note, **facts):
    files = {"classes.txt": "walk\nrun\njump\n", "list.csv": body}
    return name, files, "list.csv", expect, note, facts


def _ssv1_case(name, body, expect, note, **facts):
    files = {SSV1_LABELS: "Pushing something\nPulling something\n", "train.csv": body}
    return name, files, "train.csv", expect, note, facts


def _ssv2_case(name, body, expect, note, **facts):
    labels = json.dumps({"Pushing something": "0", "Pulling something": "1"})
    return name, {SSV2_LABELS: labels, "train.json": body}, "train.json", expect, note, facts


_K400_HEAD = "label,youtube_id,time_start,time_end,split\n"


def _k400_case(name, body, expect, note, **facts):
    return name, {"train.csv": body}, "train.csv", expect, note, facts


def _ucf_case(name, body, expect, note, classes="1 ApplyEyeMakeup\r\n2 Archery\r\n", **facts):
    files = {"classInd.txt": classes, "trainlist01.txt": body}
    return name, files, "trainlist01.txt", expect, note, facts


def _hmdb_case(name, files, expect, note, **facts):
    return name, files, next(iter(files)), expect, note, facts


_J = json.dumps
_SSV2_ROW = {"id": "1", "template": "Pushing [something]"}
_ANNOTATION_CASES = {
    "csv": [
        _csv_case("good", "a.mp4,walk\nb.mp4,1\n", "decode", "names and indices", rows=2),
        _csv_case(
            "blank_lines",
            "\na.mp4,walk\n\n  \nb.mp4,run\n\n",
            "decode",
            "blank and space-only lines between rows",
            rows=2,
        ),
        _csv_case(
            "crlf_bom", "\ufeffa.mp4,walk\r\nb.mp4,run\r\n", "decode", "UTF-8 BOM and CRLF", rows=2
        ),
        _csv_case("semicolon", "a.mp4;walk\nb.mp4;run\n", "error", "';' separator", bad_line=1),
        _csv_case("tab", "a.mp4\twalk\n", "error", "tab separator", bad_line=1),
        _csv_case("missing_col", "a.mp4,walk\nb.mp4\n", "error", "row without label", bad_line=2),
        _csv_case(
            "extra_col", "a.mp4,walk\nb.mp4,run,x\n", "error", "one row has 3 cells", bad_line=2
        ),
        _csv_case(
            "unknown_label", "a.mp4,walk\nb.mp4,swim\n", "error", "label not in classes", bad_line=2
        ),
        _csv_case(
            "index_range", "a.mp4,walk\nb.mp4,7\n", "error", "index 7 with 3 classes", bad_line=2
        ),
        _csv_case("negative", "a.mp4,-1\n", "error", "index -1", bad_line=1),
        _csv_case("duplicate", "a.mp4,walk\na.mp4,run\n", "error", "same video twice", bad_line=2),
        _csv_case(
            "latin1",
            "a.mp4,walk\nb\xe9.mp4,run\n".encode("latin-1"),
            "error",
            "byte 0xE9 (latin-1) on line 2",
            bad_line=2,
        ),
        _csv_case("utf16", "a.mp4,walk\n".encode("utf-16"), "error", "UTF-16 file"),
        _csv_case("empty", "", "error", "empty file"),
        _csv_case("only_blank", "\n\n   \n", "error", "only blank lines"),
        _csv_case(
            "bad_header",
            "file,label\na.mp4,walk\n",
            "error",
            "header row not 'path,label'",
            bad_line=1,
        ),
        _csv_case("empty_path", ",walk\n", "error", "empty path cell", bad_line=1),
        _csv_case(
            "escape",
            "a.mp4,walk\n../../etc/passwd,run\n",
            "error",
            "path climbs out of the root",
            bad_line=2,
            escape=True,
        ),
        _csv_case(
            "absolute",
            "/etc/passwd,walk\n",
            "error",
            "absolute path outside the root",
            bad_line=1,
            escape=True,
        ),
    ],
    "sthv1": [
        _ssv1_case(
            "good", "1;Pushing something\n2;Pulling something\n", "decode", "2 rows", rows=2
        ),
        _ssv1_case("comma", "1,Pushing something\n", "error", "',' instead of ';'", bad_line=1),
        _ssv1_case("missing_col", "1;Pushing something\n2\n", "error", "no label", bad_line=2),
        _ssv1_case(
            "unknown_label", "1;Juggling something\n", "error", "label not in list", bad_line=1
        ),
        _ssv1_case(
            "duplicate",
            "1;Pushing something\n1;Pulling something\n",
            "error",
            "id 1 twice",
            bad_line=2,
        ),
        _ssv1_case(
            "binary",
            b"1;Pushing something\n\xff\xfe\x00;x\n",
            "error",
            "binary bytes on line 2",
            bad_line=2,
        ),
        _ssv1_case(
            "escape",
            "../../etc;Pushing something\n",
            "error",
            "id climbs out",
            bad_line=1,
            escape=True,
        ),
    ],
    "sthv2": [
        _ssv2_case(
            "good",
            _J([_SSV2_ROW, {"id": "2", "template": "Pulling [something]"}]),
            "decode",
            "2 entries",
            rows=2,
        ),
        _ssv2_case(
            "unknown_template",
            _J([_SSV2_ROW, {"id": "2", "template": "Juggling"}]),
            "error",
            "template not in labels",
        ),
        _ssv2_case(
            "missing_id", _J([{"template": "Pushing [something]"}]), "error", "entry without id"
        ),
        _ssv2_case("not_array", _J({"id": "1"}), "error", "an object, not an array"),
        _ssv2_case("cut", _J([_SSV2_ROW, _SSV2_ROW])[:30], "error", "JSON cut mid-entry"),
        _ssv2_case("duplicate", _J([_SSV2_ROW, _SSV2_ROW]), "error", "id 1 twice"),
        _ssv2_case(
            "escape",
            _J([{"id": "../../etc/x", "template": "Pushing [something]"}]),
            "error",
            "id climbs out",
            escape=True,
        ),
    ],
    "k400": [
        _k400_case(
            "good",
            _K400_HEAD + '"playing drums",abc,10,20,train\n',
            "decode",
            "quoted multi-word label",
            rows=1,
        ),
        _k400_case(
            "no_header", '"playing drums",abc,10,20,train\n', "error", "no header", bad_line=1
        ),
        _k400_case(
            "missing_col", _K400_HEAD + "drums,abc,10\n", "error", "3 of 5 columns", bad_line=2
        ),
        _k400_case(
            "bad_time",
            _K400_HEAD + "drums,abc,ten,20,train\n",
            "error",
            "time_start 'ten'",
            bad_line=2,
        ),
        _k400_case(
            "tsv",
            _K400_HEAD.replace(",", "\t") + "drums\tabc\t10\t20\ttrain\n",
            "error",
            "tab-separated",
            bad_line=1,
        ),
        _k400_case(
            "duplicate",
            _K400_HEAD + "drums,abc,10,20,train\ndrums,abc,10,20,train\n",
            "error",
            "same clip twice",
            bad_line=3,
        ),
    ],
    "ucf101": [
        _ucf_case(
            "good",
            "ApplyEyeMakeup/v_A_g01_c01.avi 1\r\nArchery/v_B_g01_c01.avi 2\r\n",
            "decode",
            "CRLF rows",
            rows=2,
        ),
        _ucf_case(
            "unknown_class",
            "Juggling/v_J_g01_c01.avi 1\n",
            "error",
            "folder not in classInd",
            bad_line=1,
        ),
        _ucf_case(
            "mismatch",
            "Archery/v_B_g01_c01.avi 1\n",
            "error",
            "label 1 but folder Archery",
            bad_line=1,
        ),
        _ucf_case(
            "zero_label",
            "ApplyEyeMakeup/v_A_g01_c01.avi 0\n",
            "error",
            "label 0 (1-based format)",
            bad_line=1,
        ),
        _ucf_case(
            "bad_classind",
            "ApplyEyeMakeup/v_A_g01_c01.avi 1\n",
            "error",
            "classInd out of order",
            classes="2 Archery\n1 ApplyEyeMakeup\n",
            bad_file="classInd.txt",
            bad_line=1,
        ),
        _ucf_case(
            "escape",
            "ApplyEyeMakeup/../../../etc/passwd 1\n",
            "error",
            "path climbs out",
            bad_line=1,
            escape=True,
        ),
    ],
    "hmdb51": [
        _hmdb_case(
            "good",
            {"brush_hair_test_split1.txt": "a.avi 1 \nb.avi 2 \nc.avi 0 \n"},
            "decode",
            "flags 0/1/2, trailing spaces",
            rows=1,
        ),
        _hmdb_case(
            "bad_flag", {"clap_test_split1.txt": "a.avi 7\n"}, "error", "flag 7", bad_line=1
        ),
        _hmdb_case(
            "no_flag",
            {"climb_test_split1.txt": "a.avi 1\nb.avi\n"},
            "error",
            "row without flag",
            bad_line=2,
        ),
        _hmdb_case(
            "duplicate",
            {"run_test_split1.txt": "a.avi 1\na.avi 1\n"},
            "error",
            "same video twice",
            bad_line=2,
        ),
    ],
}


# --------------------------------------------------------------------------------------------
# Config files
# --------------------------------------------------------------------------------------------


def config_inputs(root: Path) -> list[BadInput]:
    """YAML override files that :func:`f4d.engine.config.load_config` must refuse (or accept)."""
    root.mkdir(parents=True, exist_ok=True)
    cases = [
        ("good.yaml", "data:\n  root: /data\n  units: 2\n", "decode", "valid overrides", None),
        (
            "unknown_top.yaml",
            "data:\n  root: /d\nmodle:\n  name: x\n",
            "error",
            "unknown top-level key",
            "modle",
        ),
        (
            "unknown_nested.yaml",
            "data:\n  root: /d\n  unitz: 2\n",
            "error",
            "unknown nested key",
            "unitz",
        ),
        (
            "wrong_type_int.yaml",
            "data:\n  root: /d\n  units: four\n",
            "error",
            "units is a string",
            "units",
        ),
        (
            "wrong_type_list.yaml",
            "data:\n  root: /d\noptim:\n  milestones: 5x\n",
            "error",
            "milestones is not a list",
            "milestones",
        ),
        (
            "wrong_type_bool.yaml",
            "data:\n  root: /d\n  flip: maybe\n",
            "error",
            "flip is not a bool",
            "flip",
        ),
        (
            "bad_choice.yaml",
            "data:\n  root: /d\nrun:\n  nonfinite: ignore\n",
            "error",
            "nonfinite outside stop|skip",
            "nonfinite",
        ),
        (
            "missing_base.yaml",
            "base: ./nope.yaml\ndata:\n  root: /d\n",
            "error",
            "base file does not exist",
            "nope.yaml",
        ),
        ("not_mapping.yaml", "- a\n- b\n", "error", "a list, not a mapping", None),
        ("bad_syntax.yaml", "data: {root: /d\n  units: [\n", "error", "malformed YAML", None),
        (
            "latin1.yaml",
            "data:\n  root: /caf\xe9\n".encode("latin-1"),
            "either",
            "non-UTF-8 byte in a value",
            None,
        ),
        (
            "python_tag.yaml",
            "data:\n  root: !!python/object/apply:os.system ['touch {marker}']\n",
            "error",
            "!!python/object/apply tag",
            None,
        ),
        ("python_name.yaml", "run: !!python/name:os.system\n", "error", "!!python/name tag", None),
    ]
    out = []
    for name, text, expect, note, key in cases:
        path = root / name
        marker = root / f"{path.stem}.pwned"
        data = text.replace("{marker}", str(marker)) if isinstance(text, str) else text
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        out.append(
            BadInput(
                f"config:{name}",
                "config",
                path,
                expect,
                note,
                extra={"key": key, "marker": str(marker)},
            )
        )
    out.append(
        BadInput(
            "config:missing_file.yaml",
            "config",
            root / "missing_file.yaml",
            "error",
            "file does not exist",
            extra={"key": None, "marker": ""},
        )
    )
    return out
