"""The FastAPI app: ``POST /v1/predict``, ``GET /v1/model``, ``GET /healthz``, the page at ``/``.

:func:`create_app` takes a loaded :class:`~f4d.engine.predict.Predictor` and serving settings;
``f4d serve`` runs the result with uvicorn. The OpenAPI schema is at ``/openapi.json``; the
interactive docs at ``/docs`` are Swagger UI served from the ``swagger-ui-bundle`` package
under ``/docs-assets/`` (no CDN: they work offline), and the page at ``/`` loads nothing from
elsewhere either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from f4d.engine.explain import attention_modules
from f4d.engine.predict import Predictor, view_settings, with_views
from f4d.serve.errors import ApiError
from f4d.serve.files import PrivateFolder
from f4d.serve.schemas import (
    ClipInput,
    ErrorResponse,
    ExplainLinks,
    Health,
    ModelResponse,
    PredictResponse,
    TimelineResponse,
    TopClass,
)
from f4d.serve.upload import BodyLimit, save_upload
from f4d.serve.worker import InferenceService, Limits

log = logging.getLogger("f4d.serve")

PAGE_SECURITY = {
    # The page fetches nothing from elsewhere: scripts, styles and images come from this server.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; style-src 'self' 'unsafe-inline'; script-src 'self' "
    "'unsafe-inline'; connect-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "empty upload or no file"), (413, "upload over the size limit"),
        (415, "not a video, no video stream, or unsupported codec"),
        (422, "truncated/damaged video, too many frames, frames too large, decode too slow, "
              "or wrong options"),
        (429, "queue full; retry after the Retry-After header's seconds"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class ServeSettings:
    """How the server runs: threads, batching, queue bound, limits, explain file lifetime."""

    workers: int = 1
    max_batch: int = 4  # as f4d serve --batch (measured, docs/serve.md)
    max_pending: int = 16
    limits: Limits = field(default_factory=Limits)
    explain_ttl_s: float = 600.0
    temp_parent: str | None = None  # where the private temp folder goes (default: TMPDIR)


@dataclass
class ServerState:
    predictor: Predictor
    settings: ServeSettings
    service: InferenceService
    folder: PrivateFolder
    model_info: ModelResponse
    explainable: bool
    started: float


def create_app(predictor: Predictor, settings: ServeSettings | None = None) -> FastAPI:
    """The app serving ``predictor``; its threads and temp folder live as long as its lifespan."""
    settings = settings or ServeSettings()
    state_box: dict[str, ServerState] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        state = _start(predictor, settings)
        state_box["state"] = app.state.f4d = state
        reaper = asyncio.create_task(_expire_forever(state.folder))
        try:
            yield
        finally:
            reaper.cancel()
            state.service.close()
            state.folder.close()

    app = FastAPI(
        title="f4d serve",
        summary="Video action recognition with a trained f4d model",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,  # FastAPI's /docs and /redoc load their assets from a CDN
        redoc_url=None,
    )
    _add_offline_docs(app)
    _add_error_handlers(app)
    _add_routes(app, lambda: state_box["state"])
    app.add_middleware(
        BodyLimit, max_bytes=settings.limits.max_upload_bytes,
        paths=("/v1/predict", "/v1/timeline"),
    )  # fmt: skip
    return app


DOCS_ASSETS = "/docs-assets"


def _add_offline_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the ``swagger-ui-bundle`` package, served by this app."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )


def _start(predictor: Predictor, settings: ServeSettings) -> ServerState:
    service = InferenceService(
        predictor, workers=settings.workers, max_batch=settings.max_batch,
        max_pending=settings.max_pending, limits=settings.limits,
    )  # fmt: skip
    folder = PrivateFolder(explain_ttl_s=settings.explain_ttl_s, parent=settings.temp_parent)
    ta, sta = attention_modules(predictor.model)
    return ServerState(
        predictor, settings, service, folder, model_info(predictor, settings),
        explainable=bool(ta or sta), started=time.monotonic(),
    )  # fmt: skip


async def _expire_forever(folder: PrivateFolder) -> None:
    """Delete expired explain folders every ``min(60, ttl / 2)`` seconds."""
    period = max(0.5, min(60.0, folder.explain_ttl_s / 2))
    while True:
        await asyncio.sleep(period)
        removed = await run_in_threadpool(folder.expire)
        if removed:
            log.info("deleted %d expired explain folder(s)", removed)


def model_info(predictor: Predictor, settings: ServeSettings) -> ModelResponse:
    """``GET /v1/model``'s answer for ``predictor``."""
    model = predictor.model
    meta = predictor.meta
    inputs = {}
    for views in ("single", "multi"):
        s = view_settings(predictor.settings, predictor.data, views=views)
        inputs[views] = ClipInput(
            units=s.units, frames=s.frames, stride=s.stride, size=s.size,
            scale_size=s.scale_size, crops=s.crops, description=s.describe(),
        )  # fmt: skip
    ta, sta = attention_modules(model)
    limits = settings.limits
    return ModelResponse(
        model=getattr(model, "model_name", type(model).__name__),
        model_args=dict(meta.get("model_args", {})),
        num_classes=len(predictor.classes), classes=predictor.classes,
        checkpoint_id=meta.get("save_id"), epoch=meta.get("epoch"), step=meta.get("step"),
        default_views=predictor.settings.views, input=inputs,
        explain_available=bool(ta or sta),
        precision=getattr(model, "precision", "fp32"),
        precision_note=getattr(model, "precision_note", None),
        limits={"max_upload_mb": limits.max_upload_mb, "max_frames": limits.max_frames,
                "max_side": limits.max_side, "decode_timeout_s": limits.decode_timeout_s,
                "explain_ttl_s": settings.explain_ttl_s},
        serving={"workers": settings.workers, "max_batch": settings.max_batch,
                 "max_pending": settings.max_pending},
    )  # fmt: skip


# ----------------------------------------------------------------------------- routes


def _add_routes(app: FastAPI, get_state) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        html = resources.files("f4d.serve").joinpath("static/index.html").read_text("utf-8")
        return HTMLResponse(html, headers=PAGE_SECURITY)

    @app.get("/healthz", response_model=Health, summary="liveness and load")
    async def healthz() -> Health:
        state = get_state()
        service = state.service
        return Health(
            status="ok", pending=service.pending, max_pending=service.max_pending,
            served=service.served, uptime_s=round(time.monotonic() - state.started, 1),
        )  # fmt: skip

    @app.get("/v1/model", response_model=ModelResponse, summary="the served model")
    async def model() -> ModelResponse:
        return get_state().model_info

    @app.post(
        "/v1/predict", response_model=PredictResponse, responses=ERRORS,
        summary="top-k classes of one uploaded video (same numbers as f4d predict)",
    )  # fmt: skip
    async def predict(
        video: Annotated[UploadFile, File(description="the video file (mp4, webm, avi, ...)")],
        topk: Annotated[int, Form(ge=1, le=1000, description="classes to return")] = 5,
        views: Annotated[
            Literal["single", "multi"] | None,
            Form(description="f4d test view mode (default: the server's --views)"),
        ] = None,
        crops: Annotated[
            int | None, Form(description="1 (centre crop) or 3 crops (default: as views)")
        ] = None,
        explain: Annotated[bool, Form(description="also draw the TA plot and STA overlay")] = False,
    ) -> PredictResponse:
        return await _predict(get_state(), video, topk=topk, views=views, crops=crops,
                              explain=explain)  # fmt: skip

    @app.post(
        "/v1/timeline", response_model=TimelineResponse, response_model_exclude_none=True,
        responses=ERRORS,
        summary="windows over time and segments of one uploaded video (f4d predict --timeline)",
    )  # fmt: skip
    async def timeline(
        video: Annotated[UploadFile, File(description="the video file (mp4, webm, avi, ...)")],
        topk: Annotated[int, Form(ge=1, le=1000, description="classes per window")] = 5,
        views: Annotated[
            Literal["single", "multi"] | None,
            Form(description="f4d test view mode (default: the server's --views)"),
        ] = None,
        crops: Annotated[
            int | None, Form(description="1 (centre crop) or 3 crops (default: as views)")
        ] = None,
        window: Annotated[
            float | None, Form(gt=0, description="window seconds (default: from the checkpoint)")
        ] = None,
        hop: Annotated[
            float | None, Form(gt=0, description="seconds between windows (default: window / 2)")
        ] = None,
        min_score: Annotated[
            float, Form(ge=0, le=1, description="weaker windows belong to no segment")
        ] = 0.0,
    ) -> dict[str, Any]:
        options = {"topk": topk, "window_s": window, "hop_s": hop, "min_score": min_score}
        return await _timeline(get_state(), video, views=views, crops=crops, options=options)

    @app.get(
        "/v1/explain/{token}/{name}", responses={404: {"model": ErrorResponse}},
        summary="one explain file of an earlier request (until it expires)",
    )  # fmt: skip
    async def explain_file(token: str, name: str) -> FileResponse:
        path = get_state().folder.explain_file(token, name)
        if path is None:
            raise ApiError(404, "not_found", "no such explain file (it may have expired)")
        return FileResponse(path, headers={"Cache-Control": "no-store"})


async def _predict(
    state: ServerState,
    video: UploadFile,
    *,
    topk: int,
    views: str | None,
    crops: int | None,
    explain: bool,
) -> PredictResponse:
    start = time.perf_counter()
    try:
        predictor = with_views(state.predictor, views=views, crops=crops)
    except ValueError as err:
        raise ApiError(422, "invalid_option", str(err)) from None
    path = state.folder.new_upload()
    try:
        limit = state.settings.limits.max_upload_bytes
        await run_in_threadpool(save_upload, video.file, path, limit)
        upload_ms = round((time.perf_counter() - start) * 1000.0, 2)
        token, explain_dir = state.folder.new_explain_dir() if explain else (None, None)
        if not state.explainable:
            explain_dir = None
        outcome = await state.service.predict(
            path, predictor, video="upload", topk=topk, explain_dir=explain_dir
        )
    finally:
        path.unlink(missing_ok=True)
        await video.close()
    prediction = outcome.prediction
    timings = {"upload_ms": upload_ms, "decode_ms": 0.0, "queue_ms": 0.0, "model_ms": 0.0,
               **outcome.timings}  # fmt: skip
    timings["total_ms"] = round((time.perf_counter() - start) * 1000.0, 2)
    return PredictResponse(
        model=state.model_info.model, views=prediction.views, units=prediction.units,
        crops=prediction.crops, num_views=prediction.num_views,
        topk=[TopClass(index=i, class_=name, prob=p) for i, name, p in prediction.topk],
        explain=_links(token, prediction.explain, state) if explain_dir else None,
        explain_note=_explain_note(state) if explain and not explain_dir else None,
        batch_size=outcome.batch_size, timings_ms=timings,
    )  # fmt: skip


async def _timeline(
    state: ServerState,
    video: UploadFile,
    *,
    views: str | None,
    crops: int | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        predictor = with_views(state.predictor, views=views, crops=crops)
    except ValueError as err:
        raise ApiError(422, "invalid_option", str(err)) from None
    path = state.folder.new_upload()
    try:
        await run_in_threadpool(
            save_upload, video.file, path, state.settings.limits.max_upload_bytes
        )
        uploaded = time.perf_counter()
        result = await state.service.timeline(path, predictor, **options)
    finally:
        path.unlink(missing_ok=True)
        await video.close()
    end = time.perf_counter()
    timings = {"upload_ms": _ms(uploaded - start), "timeline_ms": _ms(end - uploaded),
               "total_ms": _ms(end - start)}  # fmt: skip
    return {**result.to_dict(), "video": "upload", "model": state.model_info.model,
            "timings_ms": timings}  # fmt: skip


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def _links(token: str | None, files: list[Path], state: ServerState) -> ExplainLinks:
    names = {p.name for p in files}
    base = f"/v1/explain/{token}/"

    def link(name: str) -> str | None:
        return base + name if name in names else None

    return ExplainLinks(
        ta_png=link("ta.png"), sta_gif=link("sta_0.gif"), sta_png=link("sta_0.png"),
        summary=base + "explain.json", expires_in_s=int(state.settings.explain_ttl_s),
    )  # fmt: skip


def _explain_note(state: ServerState) -> str:
    return (
        f"model '{state.model_info.model}' has no temporal (TA) or spatio-temporal (STA) "
        "attention modules; nothing to explain"
    )


# ----------------------------------------------------------------------------- errors


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        return await api_error(request, ApiError(422, "invalid_option", _plain(err.errors())))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        message = {404: f"no such endpoint: {request.method} {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}  # fmt: skip
        text = message.get(err.status_code, str(err.detail))
        return await api_error(request, ApiError(err.status_code, code, text, err.headers))

    @app.exception_handler(Exception)
    async def crashed(request: Request, err: Exception) -> JSONResponse:
        log.error("request failed: %s %s", request.method, request.url.path, exc_info=err)
        body = ApiError(500, "internal_error", "the server failed on this request; its log "
                        "has the details").body()  # fmt: skip
        return JSONResponse(body, status_code=500)


def _plain(errors: list[dict[str, Any]]) -> str:
    """Validation errors as one line: ``topk: Input should be ... (got 'abc')``."""
    parts = []
    for e in errors:
        field = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
        if e.get("type") == "missing" and field == "video":
            parts.append("no video file in the request: send it as the multipart field 'video'")
            continue
        got = e.get("input")
        shown = "" if got is None or isinstance(got, dict | list) else f" (got {str(got)[:40]!r})"
        parts.append(f"{field or 'request'}: {e.get('msg', 'invalid')}{shown}")
    return "; ".join(parts)


def _version() -> str:
    from f4d import __version__

    return __version__
