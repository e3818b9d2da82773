"""Builders of bad and odd inputs for the reliability suite: videos, frames, annotations, configs.

Every builder writes into a caller-given folder and returns :class:`BadInput` records. Each record
says what the input is and what a correct library must do with it:

- ``expect="error"``: the input is unusable; the library must raise its documented error type with
  a message naming the file.
- ``expect="decode"``: the input is odd but valid; it must decode (or parse) to correct output.
- ``expect="either"``: both a clean decode and a clean error are acceptable (e.g. a file truncated
  near its end may still hold every frame the index asks for).

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
    return BadInput(
        path.name,
        "video",
        path,
        "decode",
        note,
        frames=frames,
        size=size,
        extra={"check_content": check_content},
    )


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
        source = write_video(root / f"_src_trunc.{suffix}", frames=24, codec=codec, pix_fmt=pix_fmt)
        data = source.read_bytes()
        source.unlink()
        cuts = {f"{f * 100:05.1f}pct": int(len(data) * f) for f in _TRUNCATE_FRACTIONS}
        cuts.update({f"{n:03d}bytes": n for n in _TRUNCATE_BYTES})
        for label, cut in cuts.items():
            path = root / f"trunc_{suffix}_{label}.{suffix}"
            path.write_bytes(data[:cut])
            expect = "error" if cut < 64 else "either"
            note = f"{suffix} truncated to {cut} of {len(data)} bytes"
            out.append(
                BadInput(
                    path.name, "video", path, expect, note, frames=24, extra={"check_content": True}
                )
            )
    return out


def _empty_and_garbage(root: Path) -> list[BadInput]:
    out = []
    rng = random.Random(8)
    for suffix in ("mp4", "avi", "webm", "mkv", "mov"):
        path = root / f"empty.{suffix}"
        path.write_bytes(b"")
        out.append(BadInput(path.name, "video", path, "error", "zero-length file"))
    for i, (suffix, size) in enumerate(
        [("mp4", 16), ("mp4", 4096), ("avi", 4096), ("webm", 4096), ("mkv", 70000), ("mp4", 70000)]
    ):
        path = root / f"random_{i}.{suffix}"
        path.write_bytes(rng.randbytes(size))
        out.append(BadInput(path.name, "video", path, "error", f"{size} random bytes as .{suffix}"))
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
            BadInput(
                path.name,
                "video",
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
        source = write_video(root / f"_src_flip.{suffix}", frames=24, codec=codec, pix_fmt=pix_fmt)
        data = source.read_bytes()
        source.unlink()
        for k in range(3):
            corrupt = bytearray(data)
            start = len(data) // 4
            for _ in range(20 * (k + 1)):
                corrupt[rng.randrange(start, len(data))] = rng.randrange(256)
            path = root / f"flip_{suffix}_{k}.{suffix}"
            path.write_bytes(bytes(corrupt))
            out.append(
                BadInput(
                    path.name,
                    "video",
                    path,
                    "either",
                    f"{suffix} with {20 * (k + 1)} bytes overwritten",
                    frames=24,
                )
            )
    return out


def _hostile_headers(root: Path) -> list[BadInput]:
    """Valid payloads behind headers a decoder must not trip over: unknown codec, bad text."""
    source = write_video(root / "_src_hdr.mp4", frames=4)
    data = source.read_bytes()
    source.unlink()
    unknown = root / "unknown_codec.mp4"
    unknown.write_bytes(data.replace(b"avc1", b"zzzz"))
    out = [BadInput(unknown.name, "video", unknown, "error", "mp4 whose codec tag is 'zzzz'")]
    for suffix, codec in (("mkv", "ffv1"), ("mp4", "libx264")):
        path = root / f"latin1_title.{suffix}"
        write_video(path, frames=4, codec=codec, metadata={"title": "QQQQQQQQ"})
        path.write_bytes(path.read_bytes().replace(b"QQQQQQQQ", b"\xff\xfe\xa1QQQQQ"))
        out.append(
            BadInput(
                path.name,
                "video",
                path,
                "either",
                f"4-frame {suffix} whose title tag is not UTF-8",
                frames=4,
            )
        )
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


def annotation_inputs(root: Path) -> list[BadInput]:
    """Broken annotation files for every format; ``extra`` holds the classes file if one is used.

    Every file names videos ``vid0 ... vid3`` that exist under ``root/videos`` as empty files (the
    parsers read lists, not videos). The ``fmt`` field says which parser to use.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "videos").mkdir(exist_ok=True)
    out: list[BadInput] = []
    for build in (
        _csv_annotations,
        _sthv1_annotations,
        _sthv2_annotations,
        _k400_annotations,
        _ucf_annotations,
        _hmdb_annotations,
    ):
        out.extend(build(root))
    return out


def _ann(
    root: Path, name: str, fmt: str, content: bytes | str, expect: str, note: str, **extra
) -> BadInput:
    path = root / name
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return BadInput(f"{fmt}:{name}", "annotation", path, expect, note, fmt=fmt, extra=extra)


def _csv_annotations(root: Path) -> list[BadInput]:
    classes = root / "csv_classes.txt"
    classes.write_text("walk\nrun\njump\n")
    c = {"classes": str(classes)}
    good = "videos/vid0.mp4,0\nvideos/vid1.mp4,1\n"
    return [
        _ann(root, "csv_good.csv", "csv", good, "decode", "two valid rows", rows=2, **c),
        _ann(
            root,
            "csv_blank_lines.csv",
            "csv",
            "\n" + good.replace("\n", "\n\n") + "  \n",
            "decode",
            "valid rows separated by blank lines",
            rows=2,
            **c,
        ),
        _ann(
            root,
            "csv_semicolon.csv",
            "csv",
            "videos/vid0.mp4;0\nvideos/vid1.mp4;1\n",
            "error",
            "semicolon separator",
            bad_line=1,
            **c,
        ),
        _ann(
            root,
            "csv_missing_col.csv",
            "csv",
            "videos/vid0.mp4,0\nvideos/vid1.mp4\n",
            "error",
            "second row has no label",
            bad_line=2,
            **c,
        ),
        _ann(
            root,
            "csv_label_text.csv",
            "csv",
            "videos/vid0.mp4,0\nvideos/vid1.mp4,one\n",
            "error",
            "label 'one' is not an integer",
            bad_line=2,
            **c,
        ),
        _ann(
            root,
            "csv_label_range.csv",
            "csv",
            "videos/vid0.mp4,0\nvideos/vid1.mp4,7\n",
            "error",
            "label 7 with 3 classes",
            bad_line=2,
            **c,
        ),
        _ann(
            root,
            "csv_label_negative.csv",
            "csv",
            "videos/vid0.mp4,-1\n",
            "error",
            "label -1",
            bad_line=1,
            **c,
        ),
        _ann(
            root,
            "csv_duplicate.csv",
            "csv",
            "videos/vid0.mp4,0\nvideos/vid0.mp4,1\n",
            "error",
            "same video listed twice with two labels",
            bad_line=2,
            **c,
        ),
        _ann(
            root,
            "csv_latin1.csv",
            "csv",
            "videos/vid\xe9.mp4,0\n".encode("latin-1"),
            "error",
            "non-UTF-8 byte 0xE9 in a path",
            bad_line=1,
            **c,
        ),
        _ann(root, "csv_empty.csv", "csv", "", "error", "empty file", **c),
        _ann(
            root,
            "csv_escape.csv",
            "csv",
            "../../etc/passwd,0\n",
            "error",
            "path escapes the dataset root",
            bad_line=1,
            escape=True,
            **c,
        ),
        _ann(
            root,
            "csv_absolute.csv",
            "csv",
            "/etc/passwd,0\n",
            "error",
            "absolute path outside the root",
            bad_line=1,
            escape=True,
            **c,
        ),
    ]


def _sthv1_annotations(root: Path) -> list[BadInput]:
    """Something-Something v1 lists: ``<folder> <num_frames> <label>`` per line (space sep)."""
    classes = root / "sthv1_classes.txt"
    classes.write_text("Pushing something\nPulling something\n")
    c = {"classes": str(classes)}
    return [
        _ann(
            root,
            "sthv1_good.txt",
            "sthv1",
            "vid0 30 0\nvid1 40 1\n",
            "decode",
            "two rows",
            rows=2,
            **c,
        ),
        _ann(
            root,
            "sthv1_tabs.txt",
            "sthv1",
            "vid0\t30\t0\nvid1,40,1\n",
            "error",
            "tab then comma separators",
            bad_line=2,
            **c,
        ),
        _ann(
            root,
            "sthv1_missing_col.txt",
            "sthv1",
            "vid0 30 0\nvid1 40\n",
            "error",
            "no label column",
            bad_line=2,
            **c,
        ),
        _ann(
            root,
            "sthv1_frames_text.txt",
            "sthv1",
            "vid0 thirty 0\n",
            "error",
            "frame count not an integer",
            bad_line=1,
            **c,
        ),
        _ann(
            root,
            "sthv1_label_range.txt",
            "sthv1",
            "vid0 30 0\nvid1 40 5\n",
            "error",
            "label 5 with 2 classes",
            bad_line=2,
            **c,
        ),
        _ann(
            root,
            "sthv1_dup.txt",
            "sthv1",
            "vid0 30 0\nvid0 30 1\n",
            "error",
            "duplicate id vid0",
            bad_line=2,
            **c,
        ),
        _ann(
            root,
            "sthv1_binary.txt",
            "sthv1",
            b"vid0 30 0\n\xff\xfe\x00garbage\n",
            "error",
            "binary bytes",
            bad_line=2,
            **c,
        ),
    ]


def _sthv2_annotations(root: Path) -> list[BadInput]:
    """Something-Something v2: labels json (name -> id string) + list json of {id, template}."""
    labels = root / "sthv2_labels.json"
    labels.write_text(json.dumps({"Pushing something": "0", "Pulling something": "1"}))
    c = {"classes": str(labels)}
    good = [{"id": "1", "template": "Pushing [something]", "label": "x", "placeholders": []}]
    return [
        _ann(root, "sthv2_good.json", "sthv2", json.dumps(good), "decode", "one row", rows=1, **c),
        _ann(
            root,
            "sthv2_unknown_label.json",
            "sthv2",
            json.dumps([{"id": "1", "template": "Juggling [something]"}]),
            "error",
            "template not in the label json",
            **c,
        ),
        _ann(
            root,
            "sthv2_missing_key.json",
            "sthv2",
            json.dumps([{"template": "Pushing [x]"}]),
            "error",
            "entry without id",
            **c,
        ),
        _ann(
            root,
            "sthv2_not_list.json",
            "sthv2",
            json.dumps({"id": "1"}),
            "error",
            "an object, not a list",
            **c,
        ),
        _ann(
            root,
            "sthv2_truncated.json",
            "sthv2",
            json.dumps(good)[:20],
            "error",
            "JSON cut in the middle",
            **c,
        ),
        _ann(
            root,
            "sthv2_dup.json",
            "sthv2",
            json.dumps(good + good),
            "error",
            "id 1 listed twice",
            **c,
        ),
    ]


def _k400_annotations(root: Path) -> list[BadInput]:
    """Kinetics csv: ``label,youtube_id,time_start,time_end,split[,is_cc]``; names from labels."""
    head = "label,youtube_id,time_start,time_end,split\n"
    return [
        _ann(
            root,
            "k400_good.csv",
            "k400",
            head + '"playing drums",abc,10,20,val\n',
            "decode",
            "one quoted multi-word label",
            rows=1,
        ),
        _ann(
            root,
            "k400_no_header.csv",
            "k400",
            '"playing drums",abc,10,20,val\n',
            "error",
            "header row missing",
        ),
        _ann(
            root,
            "k400_missing_col.csv",
            "k400",
            head + '"playing drums",abc,10\n',
            "error",
            "row with 3 of 5 columns",
            bad_line=2,
        ),
        _ann(
            root,
            "k400_bad_time.csv",
            "k400",
            head + '"playing drums",abc,ten,20,val\n',
            "error",
            "time_start not a number",
            bad_line=2,
        ),
        _ann(
            root,
            "k400_tsv.csv",
            "k400",
            head.replace(",", "\t") + "drums\tabc\t10\t20\tval\n",
            "error",
            "tab-separated",
        ),
        _ann(
            root,
            "k400_dup.csv",
            "k400",
            head + "drums,abc,10,20,val\ndrums,abc,10,20,val\n",
            "error",
            "same clip twice",
            bad_line=3,
        ),
    ]


def _ucf_annotations(root: Path) -> list[BadInput]:
    """UCF101 ``classInd.txt`` + ``trainlist01.txt`` (``Class/v_Class_g01_c01.avi [label]``)."""
    folder = root / "ucf"
    folder.mkdir(exist_ok=True)
    ind = folder / "classInd.txt"
    ind.write_text("1 ApplyEyeMakeup\r\n2 Archery\r\n")
    c = {"classes": str(ind)}
    good = "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\r\nArchery/v_Archery_g01_c01.avi 2\r\n"
    return [
        _ann(folder, "trainlist_good.txt", "ucf101", good, "decode", "CRLF lines", rows=2, **c),
        _ann(
            folder,
            "trainlist_unknown_class.txt",
            "ucf101",
            "Juggling/v_Juggling_g01_c01.avi 3\n",
            "error",
            "class folder not in classInd",
            bad_line=1,
            **c,
        ),
        _ann(
            folder,
            "trainlist_label_mismatch.txt",
            "ucf101",
            "Archery/v_Archery_g01_c01.avi 1\n",
            "error",
            "label 1 (ApplyEyeMakeup) but folder Archery",
            bad_line=1,
            **c,
        ),
        _ann(
            folder,
            "trainlist_zero_label.txt",
            "ucf101",
            "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 0\n",
            "error",
            "label 0 (UCF labels are 1-based)",
            bad_line=1,
            **c,
        ),
        _ann(
            folder,
            "trainlist_escape.txt",
            "ucf101",
            "../../etc/passwd 1\n",
            "error",
            "path escapes the root",
            bad_line=1,
            escape=True,
            **c,
        ),
    ]


def _hmdb_annotations(root: Path) -> list[BadInput]:
    """HMDB51 split files ``<class>_test_split1.txt`` with ``<video> <flag>`` (flag 0/1/2)."""
    folder = root / "hmdb"
    folder.mkdir(exist_ok=True)
    return [
        _ann(
            folder,
            "brush_hair_test_split1.txt",
            "hmdb51",
            "a.avi 1 \nb.avi 2 \nc.avi 0 \n",
            "decode",
            "flags 0/1/2 with trailing spaces",
            rows=1,
        ),
        _ann(folder, "clap_test_split1.txt", "hmdb51", "a.avi 7\n", "error", "flag 7", bad_line=1),
        _ann(folder, "climb_test_split1.txt", "hmdb51", "a.avi\n", "error", "no flag", bad_line=1),
    ]


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
