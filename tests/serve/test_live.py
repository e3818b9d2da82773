"""A live ``f4d serve`` on 127.0.0.1: a bounded load test and a real-browser test (Chromium).

The browser test needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them
as root); without them it skips and says how to install them. With ``F4D_SCREENSHOT_DIR`` set,
it also saves its screenshot there (``docs/img/serve_page.png`` was made that way).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest
import torch

from f4d.engine.predict import predict_video
from f4d.serve.load import LoadCase, run_load, start_server
from tests.conftest import REALDATA
from tests.engine.test_predict import make_video

pytestmark = pytest.mark.xdist_group("serve_live")  # one worker runs the one live server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1100,1500",
)  # fmt: skip


@pytest.fixture(scope="module")
def live(serve_assets, tmp_path_factory):
    """``(url, pid, private temp parent)`` of ``f4d serve`` on the tiny f4d checkpoint."""
    temp = tmp_path_factory.mktemp("serve_tmp")
    server = start_server(
        serve_assets["f4d"], "--threads", "1", "--workers", "2", env={"TMPDIR": str(temp)}
    )
    yield server.url, server.process.pid, temp
    log = server.stop()
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def load_cases(serve_assets, predictor, tmp_path_factory) -> list[LoadCase]:
    """Good videos (tiny clips and real files, with their right top-1) and bad files."""
    if not REALDATA.is_dir():
        pytest.skip(f"shared real data not found at {REALDATA}")
    realdata = REALDATA
    root = tmp_path_factory.mktemp("load")
    good = [
        serve_assets["clip"],
        make_video(root / "short.mp4", frames=12, height=32, width=40),
        make_video(root / "long.mp4", frames=40, height=36, width=44),
        realdata / "videos" / "decord_video_0.mov",
        realdata / "videos" / "human2bot_task5_0.webm",
    ]
    assert torch.get_num_threads() == 1  # as the server (--threads 1): the same numbers
    top1 = [predict_video(predictor, path, topk=1).topk[0][0] for path in good]
    cases = [LoadCase(p.name, p.read_bytes(), 200, top) for p, top in zip(good, top1)]
    avi = (realdata / "videos" / "mmaction2_test.avi").read_bytes()
    cases += [
        LoadCase("text", b"not a video at all\n" * 50, 415),
        LoadCase("empty", b"", 400),
        LoadCase("truncated", avi[: len(avi) * 6 // 10], 422),
    ]
    return cases


def test_load_nothing_lost_bad_refused_memory_flat(live, load_cases):
    url, pid, temp = live
    run_load(url, load_cases, requests=16, clients=8)  # warm-up: allocator and caches settle
    report = run_load(url, load_cases, requests=100, clients=8, pid=pid)
    summary = report.summary()
    print(f"\nload test on 127.0.0.1: {summary}")
    assert report.wrong == [], [vars(a) for a in report.wrong[:5]]
    assert summary["requests"] == 100 and summary["good"] == 64  # cases 0-4 of 8 are good
    assert report.statuses() == {200: 64, 400: 12, 415: 12, 422: 12}
    assert report.rss_growth_mib < 20.0, report.rss_mib  # MiB: no upward trend
    uploads = list(temp.glob("f4d-serve-*/uploads/*"))
    assert uploads == []  # every upload deleted after its request
    assert httpx.get(url + "/healthz").json()["served"] >= 64 + 10


def browser_or_skip():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(
            f"no headless Chromium ({', '.join(missing)} missing): install Debian's browser "
            "with `apt-get install chromium chromium-driver` (.ci/run does this as root)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    return webdriver, options, Service(str(CHROMEDRIVER))


def test_browser_uploads_a_real_video_and_shows_the_apis_top1(live, realdata, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    webdriver, options, service = browser_or_skip()
    url = live[0]
    video = realdata / "videos" / "mmaction2_test.mp4"
    api = httpx.post(url + "/v1/predict", files={"video": ("v.mp4", video.read_bytes())},
                     data={"topk": "5"}, timeout=60).json()  # fmt: skip
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.get(url + "/")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "classes" in d.find_element(By.ID, "model").text)
        driver.find_element(By.ID, "file").send_keys(str(video))
        driver.find_element(By.ID, "explain").click()
        driver.find_element(By.ID, "run").click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                   in ("done", "error"))  # fmt: skip
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done"
        rows = driver.find_elements(By.CSS_SELECTOR, "#bars .bar-row")
        shown = [(int(r.get_attribute("data-index")), r.find_element(By.CLASS_NAME, "name").text,
                  r.find_element(By.CLASS_NAME, "prob").text) for r in rows]  # fmt: skip
        top1 = api["topk"][0]
        assert shown[0][:2] == (top1["index"], top1["class"])
        assert shown[0][2] == f"{top1['prob'] * 100:.2f}%"
        assert [index for index, _, _ in shown] == [row["index"] for row in api["topk"]]
        loaded = ("const imgs = [...document.querySelectorAll('#maps img')]; return imgs.length"
                  " === 2 && imgs.every(i => i.complete && i.naturalWidth > 0);")  # fmt: skip
        wait.until(lambda d: d.execute_script(loaded))
        shot = tmp_path / "serve_page.png"
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("F4D_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["F4D_SCREENSHOT_DIR"]) / "serve_page.png")


def test_browser_timeline_mode_draws_the_strip_and_seeks_the_player(live, realdata, tmp_path):
    """Timeline mode: the page draws the API's segments and windows; a click seeks the video."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    webdriver, options, service = browser_or_skip()
    url = live[0]
    video = realdata / "videos" / "human2bot_task5_0.webm"  # VP9, 12 fps, 52 frames (4.33 s)
    api = httpx.post(url + "/v1/timeline", files={"video": ("v.webm", video.read_bytes())},
                     data={"window": "1", "hop": "0.5"}, timeout=60).json()  # fmt: skip
    assert len(api["windows"]) == 8 and api["windows"][-1]["start_s"] == round(40 / 12, 4)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.get(url + "/")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "classes" in d.find_element(By.ID, "model").text)
        driver.find_element(By.ID, "file").send_keys(str(video))
        driver.find_element(By.ID, "timeline").click()
        driver.find_element(By.ID, "window").send_keys("1")
        driver.find_element(By.ID, "hop").send_keys("0.5")
        driver.find_element(By.ID, "run").click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                   in ("done", "error"))  # fmt: skip
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done"
        segments = driver.find_elements(By.CSS_SELECTOR, "#strip .seg")
        shown = [(float(s.get_attribute("data-start")), int(s.get_attribute("data-index")),
                  s.text) for s in segments]  # fmt: skip
        assert shown == [(s["start_s"], s["index"], s["class"]) for s in api["segments"]]
        cells = driver.find_elements(By.CSS_SELECTOR, "#wstrip .seg")
        assert [float(c.get_attribute("data-start")) for c in cells] == [
            w["start_s"] for w in api["windows"]
        ]
        player_time = "return document.getElementById('player').currentTime;"
        cells[-1].click()
        assert driver.execute_script(player_time) == pytest.approx(40 / 12, abs=0.05)
        segments[0].click()
        assert driver.execute_script(player_time) == pytest.approx(0.0, abs=0.05)
        shot = tmp_path / "serve_timeline.png"
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    if os.environ.get("F4D_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["F4D_SCREENSHOT_DIR"]) / "serve_timeline.png")
