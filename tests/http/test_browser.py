"""A real browser: headless Chromium opens the status page of a running ``edged run``.

The screenshots are kept under ``$EDGED_ARTIFACTS`` (or pytest's tmp_path) for CI
to collect. Needs the Debian packages ``chromium`` and ``chromium-driver`` and
the ``selenium`` package; nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from httpkit import free_tcp_port

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REPO = Path(__file__).resolve().parents[2]

CONFIG = """
device_id: browser-demo
sources:
  - {{id: cam0, kind: synthetic, width: 640, height: 480, rate: 15}}
pipelines:
  - {{id: motion0, kind: motion, source: cam0}}
sinks:
  http: {{host: 127.0.0.1, port: {port}, stream_fps: 15}}
logging: {{level: INFO}}
"""


def _need_browser() -> None:
    pytest.importorskip("selenium", reason="pip install selenium (dev dependency)")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} not found: apt install {package}")


@pytest.fixture
def artifacts(tmp_path) -> Path:
    root = os.environ.get("EDGED_ARTIFACTS")
    path = Path(root) / "http" if root else tmp_path / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _edged(config_text: str, tmp_path: Path, artifacts: Path) -> Iterator[str]:
    """``python -m edged run`` on a config; yields the base URL; SIGTERM at the end."""
    port = free_tcp_port()
    config = tmp_path / "edged.yaml"
    config.write_text(config_text.format(port=port))
    log = open(artifacts / "edged-run.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "edged", "run", "-c", str(config)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:  # an outside process: poll with a deadline
            assert proc.poll() is None, "edged run exited; see edged-run.log"
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "edged run never became healthy"
            time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    assert code == 0, f"edged run exited with {code}; see {artifacts / 'edged-run.log'}"


@pytest.fixture
def edged_run(tmp_path, artifacts):
    """``python -m edged run`` on a free port without a token; yields the base URL."""
    with _edged(CONFIG, tmp_path, artifacts) as base:
        yield base


@pytest.fixture
def browser(tmp_path, monkeypatch):
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1360,1100",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _decode_png(data: bytes) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def _crop(shot: np.ndarray, rect: dict, scale: float) -> np.ndarray:
    x, y = int(rect["x"] * scale), int(rect["y"] * scale)
    w, h = int(rect["width"] * scale), int(rect["height"] * scale)
    return shot[y : y + h, x : x + w]


PREVIEWS_LIVE = """
const imgs = Array.from(document.querySelectorAll('.columns .preview img'));
return imgs.length >= 2 && imgs.every(i => i.naturalWidth >= 64);
"""


def test_status_page_shows_a_live_changing_preview(edged_run, browser, artifacts):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(edged_run + "/")
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.execute_script(PREVIEWS_LIVE))
    wait.until(lambda d: d.find_element(By.ID, "health").text == "healthy")
    assert browser.find_element(By.ID, "device").text == "browser-demo"
    assert "cam0" in browser.find_element(By.ID, "sources").text
    assert "motion0" in browser.find_element(By.ID, "pipelines").text
    assert "http" in browser.find_element(By.ID, "sinks").text

    preview = browser.find_element(By.CSS_SELECTOR, "#sources .preview img")
    scale = browser.execute_script("return window.devicePixelRatio") or 1.0
    first_png = browser.get_screenshot_as_png()
    (artifacts / "status-page-1.png").write_bytes(first_png)
    first = _crop(_decode_png(first_png), preview.rect, scale)
    time.sleep(1.0)  # let real time pass: the synthetic camera moves at 15 fps
    second_png = browser.get_screenshot_as_png()
    (artifacts / "status-page-2.png").write_bytes(second_png)
    second = _crop(_decode_png(second_png), preview.rect, scale)

    assert first.size > 0 and first.std() > 20, "the preview is blank"
    assert second.std() > 20, "the preview is blank"
    changed = np.abs(first.astype(np.int16) - second.astype(np.int16)).mean()
    assert changed > 2, f"the preview did not change between screenshots ({changed:.2f})"

    status = browser.execute_script(
        "return fetch('/api/status').then(r => r.json()).then(s => s.http)"
    )
    assert status["viewers"] >= 2  # the camera and the pipeline previews stream
    print(f"screenshots: {artifacts}")


def test_try_it_form_runs_an_upload(edged_run, browser, artifacts, tmp_path):
    import cv2
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image = np.zeros((240, 320, 3), np.uint8)
    cv2.circle(image, (160, 120), 80, (40, 200, 255), -1)
    upload = tmp_path / "upload.png"
    cv2.imwrite(str(upload), image)

    browser.get(edged_run + "/")
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#try-pipeline option"))
    browser.find_element(By.ID, "try-file").send_keys(str(upload))
    browser.find_element(By.ID, "try-go").click()
    wait.until(lambda d: d.find_element(By.ID, "try-status").text.startswith("Done"))
    result = browser.find_element(By.ID, "try-json").text
    assert '"pipeline_id": "motion0"' in result and '"source_id": "upload"' in result
    wait.until(
        lambda d: d.execute_script("return document.getElementById('try-image').naturalWidth")
    )
    wait.until(lambda d: d.execute_script(PREVIEWS_LIVE))
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1360, height + 140)
    time.sleep(0.3)  # one more poll and frame after the resize
    (artifacts / "status-page-full.png").write_bytes(browser.get_screenshot_as_png())


MANAGED = """
device_id: browser-manage
sources:
  # the camera at the door
  - {{id: cam0, kind: synthetic, width: 320, height: 240, rate: 10}}
pipelines:
  - {{id: motion0, kind: motion, source: cam0}}
sinks:
  http: {{host: 127.0.0.1, port: {port}, stream_fps: 10, token: browser-token}}
"""


def test_cameras_added_and_removed_from_the_page(browser, tmp_path, artifacts):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    with _edged(MANAGED, tmp_path, artifacts) as base:
        browser.get(base + "/")
        browser.find_element(By.ID, "token").send_keys("browser-token")
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait = WebDriverWait(browser, 20)
        wait.until(lambda d: d.find_element(By.ID, "manage").is_displayed())
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#cam-list button[data-id=cam0]"))

        browser.find_element(By.ID, "cam-id").send_keys("cam1")
        browser.find_element(By.CSS_SELECTOR, "#cam-kind option[value=synthetic]").click()
        browser.find_element(By.ID, "cam-add").click()
        wait.until(lambda d: d.find_element(By.ID, "cam-status").text == "Added cam1.")
        wait.until(lambda d: "cam1" in d.find_element(By.ID, "sources").text)
        text = (tmp_path / "edged.yaml").read_text()
        assert "id: cam1" in text and "# the camera at the door" in text
        browser.execute_script("document.getElementById('manage').scrollIntoView()")
        browser.save_screenshot(str(artifacts / "manage-cameras.png"))

        browser.find_element(By.CSS_SELECTOR, "#cam-list button[data-id=cam0]").click()
        wait.until(expected_conditions.alert_is_present()).accept()
        wait.until(lambda d: "motion0" in d.find_element(By.ID, "cam-status").text)
        assert "cam0" in (tmp_path / "edged.yaml").read_text()

        browser.find_element(By.CSS_SELECTOR, "#cam-list button[data-id=cam1]").click()
        wait.until(expected_conditions.alert_is_present()).accept()
        wait.until(lambda d: d.find_element(By.ID, "cam-status").text == "Removed cam1.")
        wait.until(lambda d: "cam1" not in d.find_element(By.ID, "sources").text)
        assert "cam1" not in (tmp_path / "edged.yaml").read_text()


def test_the_manage_form_is_hidden_without_a_token(edged_run, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(edged_run + "/")
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.find_element(By.ID, "health").text == "healthy")
    assert not browser.find_element(By.ID, "manage").is_displayed()


CAMERA_STATE = """
return fetch('/api/status').then(r => r.json()).then(s => {
  const found = (s.sources || []).find(x => x.id === arguments[0]);
  return found ? found.state : null;
});
"""


@pytest.mark.usefixtures("needs_ffmpeg_opencv")
def test_an_rtsp_camera_tested_added_changed_and_removed_from_the_page(
    browser, rtsp_server, tmp_path, artifacts
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    path = tmp_path / "edged.yaml"
    with _edged(MANAGED, tmp_path, artifacts) as base:
        browser.get(base + "/")
        browser.find_element(By.ID, "token").send_keys("browser-token")
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait = WebDriverWait(browser, 60)  # a loaded 2-core machine: generous
        wait.until(lambda d: d.find_element(By.ID, "manage").is_displayed())
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#cam-list button[data-id=cam0]"))
        status = browser.find_element(By.ID, "cam-status")

        # A wrong address fails the test with a reason, and nothing is saved.
        browser.find_element(By.ID, "cam-id").send_keys("gate")
        browser.find_element(By.CSS_SELECTOR, "#cam-kind option[value=rtsp]").click()
        wrong = f"rtsp://127.0.0.1:{free_tcp_port()}/test"
        browser.find_element(By.ID, "cam-uri").send_keys(wrong)
        browser.find_element(By.ID, "cam-user").send_keys("admin")
        browser.find_element(By.ID, "cam-password").send_keys("gate-pw")
        browser.find_element(By.ID, "cam-test").click()
        wait.until(lambda d: status.text.startswith("Test failed"))
        assert "cannot connect" in status.text and "err" in status.get_attribute("class")
        assert "gate-pw" not in status.text
        assert not browser.find_element(By.ID, "cam-snapshot").is_displayed()

        # The right one shows a snapshot; still nothing saved.
        uri = browser.find_element(By.ID, "cam-uri")
        uri.clear()
        uri.send_keys(rtsp_server.uri)
        browser.find_element(By.ID, "cam-test").click()
        wait.until(lambda d: status.text.startswith("Test passed"))
        assert "320\u00d7240" in status.text  # the size, as the page writes it
        wait.until(
            lambda d: (
                d.execute_script("return document.getElementById('cam-snapshot').naturalWidth")
                == 320
            )
        )
        assert "gate" not in path.read_text()
        browser.execute_script("document.getElementById('manage').scrollIntoView()")
        browser.save_screenshot(str(artifacts / "manage-camera-tested.png"))

        browser.find_element(By.ID, "cam-add").click()
        wait.until(lambda d: status.text == "Added gate.")
        text = path.read_text()
        assert "id: gate" in text and "gate-pw" in text and "# the camera at the door" in text
        wait.until(lambda d: d.execute_script(CAMERA_STATE, "gate") == "streaming")

        # Edit: the form is filled, the password never comes back.
        browser.find_element(By.CSS_SELECTOR, "#cam-list button[data-edit=gate]").click()
        assert browser.find_element(By.ID, "cam-id").get_attribute("value") == "gate"
        assert browser.find_element(By.ID, "cam-uri").get_attribute("value") == rtsp_server.uri
        assert browser.find_element(By.ID, "cam-user").get_attribute("value") == "admin"
        password = browser.find_element(By.ID, "cam-password")
        assert password.get_attribute("value") == ""
        assert password.get_attribute("placeholder") == "unchanged"
        assert browser.find_element(By.ID, "cam-add").text == "Save changes"
        assert "gate-pw" not in browser.page_source
        user = browser.find_element(By.ID, "cam-user")
        user.clear()
        user.send_keys("viewer")
        browser.find_element(By.ID, "cam-test").click()  # tested with the stored password
        wait.until(lambda d: status.text.startswith("Test passed"))
        browser.find_element(By.ID, "cam-add").click()
        wait.until(lambda d: status.text == "Saved gate.")
        text = path.read_text()
        assert "username: viewer" in text and "gate-pw" in text and "***" not in text
        assert browser.find_element(By.ID, "cam-add").text == "Add camera"
        wait.until(lambda d: d.execute_script(CAMERA_STATE, "gate") == "streaming")

        browser.find_element(By.CSS_SELECTOR, "#cam-list button[data-id=gate]").click()
        wait.until(expected_conditions.alert_is_present()).accept()
        wait.until(lambda d: status.text == "Removed gate.")
        wait.until(lambda d: d.execute_script(CAMERA_STATE, "gate") is None)
        assert "gate" not in path.read_text()
