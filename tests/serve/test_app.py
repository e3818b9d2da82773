"""API tests of ``f4d serve`` in process: real videos, broken ones, options, limits, files."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path

import pytest

from f4d.cli.main import main
from f4d.engine.predict import load_predictor
from f4d.serve.files import PrivateFolder
from tests.engine.test_predict import CLASSES
from tests.serve.conftest import REAL_VIDEOS, make_client

pytestmark = pytest.mark.xdist_group("serve_app")  # one worker shares the app and checkpoint


def post(client, path: Path | None = None, *, content: bytes | None = None, name="clip.mp4",
         **options):  # fmt: skip
    data = path.read_bytes() if content is None else content
    return client.post("/v1/predict", files={"video": (name, data)}, data=options)


def assert_plain_error(response, status: int, code: str) -> str:
    """The body is our JSON error with ``code``; no traceback, path or client file name."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["code"] == code
    text = response.text
    assert "Traceback" not in text and "/tmp" not in text and "f4d-serve" not in text
    assert "secret_name" not in text
    return error["message"]


def assert_still_serving(client, clip: Path) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert post(client, clip, topk=1).status_code == 200


# ------------------------------------------------------------------ same numbers as f4d predict


@pytest.mark.parametrize("name", REAL_VIDEOS)
def test_predict_gives_the_numbers_of_f4d_predict(client, serve_assets, realdata, name, capsys):
    video = realdata / "videos" / name
    answer = post(client, video, topk=5, name="secret_name.bin")
    assert answer.status_code == 200, answer.text
    rc = main(["predict", str(video), "--checkpoint", str(serve_assets["f4d"]), "--json",
               "--topk", "5"])  # fmt: skip
    assert rc == 0
    expected = json.loads(capsys.readouterr().out)[0]
    body = answer.json()
    assert body["topk"] == expected["topk"]  # same classes, same probabilities, bit for bit
    assert (body["views"], body["units"], body["crops"]) == ("single", 2, 1)
    assert body["model"] == "f4d_tiny" and body["batch_size"] == 1 and body["explain"] is None
    timings = body["timings_ms"]
    assert timings["total_ms"] >= timings["decode_ms"] > 0 and timings["model_ms"] > 0


def test_multi_view_three_crops_match_f4d_predict(client, serve_assets, realdata, capsys):
    video = realdata / "videos" / "mmaction2_test.avi"
    body = post(client, video, topk=3, views="multi", crops=3).json()
    argv = ["predict", str(video), "--checkpoint", str(serve_assets["f4d"]), "--json",
            "--topk", "3", "--views", "multi", "--crops", "3"]  # fmt: skip
    assert main(argv) == 0
    expected = json.loads(capsys.readouterr().out)[0]
    assert body["topk"] == expected["topk"]
    assert (body["views"], body["units"], body["crops"], body["num_views"]) == ("multi", 10, 3, 3)


def test_topk_returns_sorted_named_classes(client, serve_assets):
    body = post(client, serve_assets["clip"], topk=3).json()
    probs = [row["prob"] for row in body["topk"]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True)
    assert all(row["class"] == CLASSES[row["index"]] for row in body["topk"])
    everything = post(client, serve_assets["clip"], topk=50).json()["topk"]
    assert len(everything) == len(CLASSES) and abs(sum(r["prob"] for r in everything) - 1) < 1e-5


# ------------------------------------------------------------------ explain


def test_explain_links_serve_the_ta_png_and_sta_gif(client, realdata):
    body = post(client, realdata / "videos" / "mmaction2_test.mp4", explain="true").json()
    links = body["explain"]
    assert re.fullmatch(r"/v1/explain/[0-9a-f]{32}/ta\.png", links["ta_png"])
    ta, gif = client.get(links["ta_png"]), client.get(links["sta_gif"])
    assert ta.headers["content-type"] == "image/png" and ta.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert gif.headers["content-type"] == "image/gif" and gif.content[:6] == b"GIF89a"
    summary = client.get(links["summary"]).json()
    assert summary["units"] == 2 and len(summary["ta"]) == 1 and len(summary["sta"]) == 1
    assert links["expires_in_s"] == 600


def test_explain_files_cannot_be_reached_outside_their_folder(client):
    for url in ("/v1/explain/../../etc/passwd", f"/v1/explain/{'a' * 32}/..%2Fta.png",
                f"/v1/explain/{'a' * 32}/ta.png", "/v1/explain/XYZ/ta.png"):  # fmt: skip
        assert client.get(url).status_code == 404


def test_explain_without_attention_predicts_and_says_why(serve_assets):
    with make_client(load_predictor(serve_assets["tsn"])) as tsn:
        body = post(tsn, serve_assets["clip"], explain="true").json()
        assert body["explain"] is None and "no temporal (TA)" in body["explain_note"]
        assert tsn.get("/v1/model").json()["explain_available"] is False


def test_explain_files_expire(tmp_path):
    folder = PrivateFolder(explain_ttl_s=0.2, parent=tmp_path)
    token, path = folder.new_explain_dir()
    path.mkdir()
    (path / "ta.png").write_bytes(b"png")
    assert folder.explain_file(token, "ta.png") == path / "ta.png"
    assert folder.expire() == 0
    time.sleep(0.3)
    assert folder.explain_file(token, "ta.png") is None  # expired files are not served
    assert folder.expire() == 1 and not path.exists()
    folder.close()
    assert not folder.root.exists()


# ------------------------------------------------------------------ broken input


def test_truncated_avi_is_refused(client, realdata, serve_assets, tmp_path):
    data = (realdata / "videos" / "mmaction2_test.avi").read_bytes()
    answer = post(client, content=data[: len(data) * 6 // 10], name="secret_name.avi")
    message = assert_plain_error(answer, 422, "truncated")
    assert message == "the video is truncated or damaged: it holds 3.76 s of the 6.56 s it declares"
    assert_still_serving(client, serve_assets["clip"])


def test_mp4_cut_before_its_index_is_truncated(client, realdata, serve_assets):
    data = (realdata / "videos" / "mmaction2_test.mp4").read_bytes()  # moov atom at the end
    answer = post(client, content=data[: len(data) // 2], name="secret_name.mp4")
    assert "no index (moov atom)" in assert_plain_error(answer, 422, "truncated")


def test_cut_webm_is_truncated_not_a_shorter_video(client, realdata, serve_assets):
    data = (realdata / "videos" / "human2bot_task5_0.webm").read_bytes()
    answer = post(client, content=data[: len(data) * 6 // 10], name="secret_name.webm")
    assert "of the 4.33 s it declares" in assert_plain_error(answer, 422, "truncated")


def test_corrupted_mp4_is_refused_as_damaged(client, realdata, serve_assets):
    answer = post(client, realdata / "videos" / "decord_corrupted.mp4", name="secret_name.mp4")
    assert "50 frames" in assert_plain_error(answer, 422, "truncated")
    assert_still_serving(client, serve_assets["clip"])


@pytest.mark.parametrize(
    ("content", "status", "code", "words"),
    [
        (b"", 400, "empty", "empty"),
        (
            b"just some text, certainly not a video\n" * 20,
            415,
            "not_a_video",
            "not a readable video",
        ),
        (b"\x00" * 4096, 415, "not_a_video", "container"),
    ],
    ids=["empty", "text", "zeros"],
)
def test_broken_uploads_get_plain_4xx(client, serve_assets, content, status, code, words):
    message = assert_plain_error(
        post(client, content=content, name="secret_name.mp4"), status, code
    )
    assert words in message
    assert_still_serving(client, serve_assets["clip"])


def test_audio_only_file_has_no_video_stream(client, serve_assets, tmp_path):
    import av
    import numpy as np

    path = tmp_path / "tone.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    assert_plain_error(post(client, path), 415, "no_video_stream")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"topk": "0"}, "topk"),
        ({"topk": "abc"}, "topk"),
        ({"views": "both"}, "'single' or 'multi'"),
        ({"crops": "2"}, "crops"),
        ({"explain": "maybe"}, "explain"),
    ],
)
def test_wrong_options_are_named(client, serve_assets, options, words):
    message = assert_plain_error(post(client, serve_assets["clip"], **options), 422,
                                 "invalid_option")  # fmt: skip
    assert words in message


def test_a_request_without_a_file_says_how_to_send_one(client):
    answer = client.post("/v1/predict", data={"topk": "3"})
    assert "multipart field 'video'" in assert_plain_error(answer, 422, "invalid_option")


def test_unknown_endpoints_and_methods_answer_json(client):
    assert_plain_error(client.get("/v2/nothing"), 404, "not_found")
    assert_plain_error(client.get("/v1/predict"), 405, "method_not_allowed")


# ------------------------------------------------------------------ limits


def test_upload_over_the_size_limit_is_413(predictor, realdata, serve_assets):
    video = realdata / "videos" / "mmaction2_test.avi"  # 294566 bytes
    with make_client(predictor, limits=_limits(max_upload_mb=0.1)) as small:
        message = assert_plain_error(post(small, video), 413, "too_large")
        assert "0.1 MiB" in message
        chunks = (b"x" * 65536 for _ in range(8))  # no Content-Length: refused while streaming
        headers = {"content-type": "multipart/form-data; boundary=b"}
        streamed = small.post("/v1/predict", content=chunks, headers=headers)
        assert_plain_error(streamed, 413, "too_large")
        assert_still_serving(small, serve_assets["clip"])


@pytest.mark.parametrize(
    ("limits", "code", "words"),
    [
        ({"max_frames": 100}, "too_many_frames", "300 frames; the limit is 100"),
        ({"max_side": 300}, "frame_too_large", "340x256"),
        ({"decode_timeout_s": 1e-9}, "decode_timeout", "limit of 1e-09 s"),
    ],
)
def test_frame_count_size_and_decode_time_limits(predictor, realdata, limits, code, words):
    with make_client(predictor, limits=_limits(**limits)) as limited:
        answer = post(limited, realdata / "videos" / "mmaction2_test.mp4")
        assert words in assert_plain_error(answer, 422, code)


def _limits(**kwargs):
    from f4d.serve.worker import Limits

    return Limits(**kwargs)


# ------------------------------------------------------------------ files, model, page


def test_uploads_go_to_a_private_folder_and_are_deleted(client, serve_assets, realdata):
    folder = client.app.state.f4d.folder
    assert stat.S_IMODE(folder.root.stat().st_mode) == 0o700
    post(client, serve_assets["clip"], name="secret_name.mp4")
    post(client, content=b"not a video", name="secret_name.mp4")
    assert list(folder.uploads.iterdir()) == []
    assert not any("secret_name" in p.name for p in folder.root.rglob("*"))


def test_temp_folder_is_removed_at_shutdown(predictor):
    with make_client(predictor) as short_lived:
        root = short_lived.app.state.f4d.folder.root
        assert root.is_dir()
    assert not root.exists()


def test_model_endpoint_describes_the_checkpoint(client, predictor):
    info = client.get("/v1/model").json()
    assert info["model"] == "f4d_tiny" and info["classes"] == CLASSES and info["num_classes"] == 5
    assert info["checkpoint_id"] == predictor.meta["save_id"] and info["step"] == 10
    assert info["input"]["single"]["units"] == 2 and info["input"]["single"]["size"] == 32
    assert info["input"]["multi"]["units"] == 10 and info["input"]["multi"]["crops"] == 3
    assert info["explain_available"] is True and info["default_views"] == "single"
    assert info["serving"] == {"workers": 1, "max_batch": 4, "max_pending": 16}
    assert info["precision"] == predictor.model.precision and info["precision"] in ("fp32", "bf16")
    assert info["precision_note"] is None  # the checkpoint records no failed precision check


def test_model_endpoint_says_why_auto_runs_fp32(serve_assets, tmp_path, monkeypatch):
    """A checkpoint whose precision check failed: auto serves fp32 and /v1/model says why."""
    import shutil

    import f4d.models.precision as precision_module
    from f4d.engine import checkpoint as ckpt

    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: True)
    run = shutil.copytree(serve_assets["f4d"].parent.parent, tmp_path / "run", symlinks=True)
    failed = {"precision": "bf16", "videos": 40, "agreement": 0.95, "top1": 0.5,
              "top1_fp32": 0.55, "logit_error": 0.03, "passed": False}  # fmt: skip
    ckpt.amend_meta(run / "checkpoints" / "best", {"precision_check": failed})
    with make_client(load_predictor(run)) as test_client:
        info = test_client.get("/v1/model").json()
    assert info["precision"] == "fp32"
    assert "changed 5.0% of this model's top-1 predictions" in info["precision_note"]


def test_healthz_reports_load(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["pending"] == 0 and health["max_pending"] == 16


def test_page_is_one_static_file_that_fetches_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page.text)
    assert "/v1/predict" in page.text and "/v1/model" in page.text


def test_openapi_documents_the_schemas(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"PredictResponse", "ModelResponse", "ErrorResponse", "Health"} <= set(schemas)
    responses = spec["paths"]["/v1/predict"]["post"]["responses"]
    assert {"200", "413", "415", "422", "429"} <= set(responses)


def test_docs_page_works_offline(client):
    """Issue 27 item 8: /docs loads Swagger UI from this server, never from a CDN."""
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    urls = re.findall(r"(?:src|href)=[\"']([^\"']+)", page.text) + re.findall(
        r"url: ?'([^']+)'", page.text
    )
    assert urls and not [u for u in urls if "//" in u], urls
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 100, url
    assert client.get("/redoc").status_code == 404  # FastAPI's CDN-only page is off


def test_cli_refuses_a_busy_port_before_loading_the_model(tmp_path, capsys):
    """Issue 27 item 7: exit 2 in one line (was 3 with uvicorn's own ERROR line)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", str(tmp_path / "not-loaded"), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"--port {port}: cannot listen there: Address already in use" in err
    assert "pick another --port" in err and "not-loaded" not in err


def test_cli_refuses_a_missing_checkpoint(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope")]) == 4  # bad input (f4d.errors.EXIT_INPUT)
    assert "nope" in capsys.readouterr().err
