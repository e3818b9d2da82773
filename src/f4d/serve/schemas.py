"""JSON schemas of the API (pydantic models; FastAPI publishes them at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TopClass(BaseModel):
    """One of the top-k classes, as ``f4d predict --json`` prints it."""

    model_config = ConfigDict(populate_by_name=True)

    index: int = Field(description="class index in the model's output")
    class_: str = Field(alias="class", description="class name")
    prob: float = Field(description="softmax probability of the view-averaged logits")


class ExplainLinks(BaseModel):
    """Links to one request's attention explanation (they expire, see ``expires_in_s``)."""

    ta_png: str | None = Field(description="TA heat-map and line plot (PNG); None without TA")
    sta_gif: str | None = Field(description="first STA map over the frames (GIF); None without STA")
    sta_png: str | None = Field(description="first STA map as a units x frames grid (PNG)")
    summary: str = Field(description="explain.json: TA weights, STA map ranges, files")
    expires_in_s: int = Field(description="seconds until the files are deleted")


class Timings(BaseModel):
    """Where the request's time went, in milliseconds."""

    upload_ms: float = Field(description="receiving and storing the upload")
    decode_ms: float = Field(description="probe, decode and crop on a decode thread")
    queue_ms: float = Field(description="waiting for the model thread")
    model_ms: float = Field(description="forward pass (of the whole batch) and explain files")
    total_ms: float = Field(description="from the request's arrival to the answer")


class PredictResponse(BaseModel):
    """The top-k of one uploaded video, with the views used and timings."""

    model: str = Field(description="model registry name")
    views: str = Field(description="f4d test view mode used: single or multi")
    units: int = Field(description="action units U per view")
    crops: int = Field(description="spatial crops averaged (1 centre or 3)")
    num_views: int = Field(description="model inputs averaged (= crops)")
    topk: list[TopClass]
    explain: ExplainLinks | None = Field(description="links to the explanation, when asked")
    explain_note: str | None = Field(None, description="why there is no explanation, if asked")
    batch_size: int = Field(description="requests that shared this request's forward pass")
    timings_ms: Timings


class TimelineWindow(BaseModel):
    """One window of a timeline: ``[start_s, end_s)`` and its top-k."""

    start_s: float
    end_s: float
    topk: list[TopClass]


class TimelineSegment(BaseModel):
    """Consecutive windows with the same top-1 class (score: their mean top-1 probability)."""

    model_config = ConfigDict(populate_by_name=True)

    start_s: float
    end_s: float
    class_: str = Field(alias="class", description="class name")
    index: int = Field(description="class index")
    score: float


class TimelineResponse(BaseModel):
    """``f4d predict --timeline --json`` of one uploaded video, plus the model and timings."""

    video: str = Field(description="always 'upload'")
    duration_s: float
    fps: float
    num_frames: int
    window_s: float = Field(description="window length used (window_frames / fps)")
    hop_s: float = Field(description="seconds between window starts (hop_frames / fps)")
    window_frames: int
    hop_frames: int
    window_source: str = Field(description="where the window length came from")
    views: str
    units: int
    crops: int
    windows: list[TimelineWindow]
    segments: list[TimelineSegment]
    notes: list[str]
    frames_held_peak: int = Field(description="most decoded frames held at once")
    truncated: str | None = Field(None, description="why, for a truncated file (omitted else)")
    model: str = Field(description="model registry name")
    timings_ms: dict[str, float] = Field(description="upload_ms, timeline_ms, total_ms")


class ClipInput(BaseModel):
    """How a video becomes model input for one view mode."""

    units: int
    frames: int
    stride: int
    size: int
    scale_size: int
    crops: int
    description: str


class ModelResponse(BaseModel):
    """The served model: name, classes, input settings, checkpoint id, limits."""

    model: str
    model_args: dict[str, Any]
    num_classes: int
    classes: list[str]
    checkpoint_id: str | None = Field(description="save_id of the checkpoint (a hex string)")
    epoch: int | None
    step: int | None
    default_views: str = Field(description="view mode used when a request names none")
    input: dict[str, ClipInput] = Field(description="clip settings per view mode")
    explain_available: bool = Field(description="the model has TA or STA attention to explain")
    precision: str = Field(default="fp32", description="fp32, bf16 or fp16 (f4d serve --precision)")
    precision_note: str | None = Field(
        default=None,
        description="why --precision auto runs fp32 here: bf16 failed the checkpoint's "
        "precision check at the end of training (docs/training.md)",
    )
    limits: dict[str, int | float] = Field(description="max_upload_mb, max_frames, max_side, ...")
    serving: dict[str, int] = Field(description="workers, max_batch, max_pending")


class Health(BaseModel):
    """Liveness and load."""

    status: str
    pending: int = Field(description="requests admitted and not yet answered")
    max_pending: int = Field(description="over this, requests get 429")
    served: int = Field(description="requests answered since start")
    uptime_s: float


class ErrorBody(BaseModel):
    status: int = Field(description="HTTP status")
    code: str = Field(description="stable machine-readable code, e.g. not_a_video, too_large")
    message: str = Field(description="the problem in plain words")


class ErrorResponse(BaseModel):
    """Every refusal: a 4xx (or 500) with this body; never a traceback or a server path."""

    error: ErrorBody
