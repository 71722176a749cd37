"""The web console (pipelines/console/) in a real headless Chromium, against a real `sceneline serve`.

The server runs as a subprocess with the tiny open_clip model (random weights, see conftest.py),
no captioner, no OCR and no text model, so indexing is quick; the page talks to it over the same
/v1.3 API as the SDK. The browser uploads real footage (a clip cut from three real videos, and a
photo), waits for ready, searches by image and by text, plays a result, and is checked at phone
width and for console errors.

SCENELINE_CONSOLE_SCREENSHOTS=docs/console writes a screenshot of each view there (docs/console.md).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import av
import pytest

from clips import write_shots
from conftest import media

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from sceneline.pipelines.console import STATIC_DIR, mount_console

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BROWSER_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,900")
SHOT_SECONDS = 2.0  # each shot of the test clip; its scenes start at 0, 2 and 4 s
INDEX_TIMEOUT_S = 300  # two uploads indexed on one worker, on a busy 2-core machine
SCREENSHOTS = os.environ.get("SCENELINE_CONSOLE_SCREENSHOTS")

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver; .ci/run does)")


# ---- the page's files, without a browser -----------------------------------------------------

def test_page_is_self_contained_and_carries_the_test_hooks():
    files = {p.relative_to(STATIC_DIR).as_posix(): p.read_text() for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert {"index.html", "style.css", "js/app.js"} <= set(files)
    for name, text in files.items():
        # Offline: no CDN script, remote font or stylesheet; every reference is relative.
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), f"{name} loads something remote"
        assert "@import" not in text and "url(http" not in text, f"{name} loads something remote"
    page = files["index.html"]
    for hook in ("upload-input", "search-input", "search-image-input", "player"):
        assert f'data-testid="{hook}"' in page
    scripts = "".join(text for name, text in files.items() if name.endswith(".js"))
    for hook in ('testid: "asset"', 'testid: "result"'):
        assert hook in scripts


def test_the_page_sits_behind_the_api_routes_at_the_root():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()

    @app.get("/v1.3/ping")
    def ping():
        return {"ok": True}

    mount_console(app)
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200 and 'data-testid="upload-input"' in page.text
        assert client.get("/js/app.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/v1.3/ping").json() == {"ok": True}  # API routes come first
        assert client.get("/collections").status_code == 404  # nothing else answers at the root


# ---- the page in a real browser, against a real server --------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sceneline serve exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"sceneline serve did not answer in {timeout_s} s:\n{log.read_text()[-3000:]}")


def start_server(home: Path, visual_model: str, *extra: str) -> tuple[str, subprocess.Popen]:
    """`sceneline serve` on a free loopback port, with models small enough for a test."""
    port = _free_port()
    log = home / "serve.log"
    home.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "sceneline.pipelines.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--home", str(home), "--index-workers", "1", "--visual-model", visual_model, "--captioner", "none",
               "--no-ocr", "--text-model", "none", "--detector", "content", "--offline", *extra]
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
    except Exception:
        process.kill()
        raise
    return url, process


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def new_browser(profile: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


def shoot(driver: webdriver.Chrome, name: str) -> None:
    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        time.sleep(0.5)  # let thumbnails paint
        driver.save_screenshot(str(folder / f"{name}.png"))


def wait(driver: webdriver.Chrome, condition, timeout_s: float, what: str):
    try:
        # The page re-renders lists as results and statuses arrive: an element found a moment ago
        # may be gone, so a stale one means "look again", not a failure.
        return WebDriverWait(driver, timeout_s, poll_frequency=0.25,
                             ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException:
        notice = driver.find_element(By.ID, "notice")
        shown = "" if notice.get_attribute("hidden") is not None else f"; the page says: {notice.text}"
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}{shown}") from None


def severe_logs(driver: webdriver.Chrome) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def no_horizontal_overflow(driver: webdriver.Chrome) -> bool:
    return driver.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> dict[str, Path]:
    """A 6 s clip of three real shots (hard cuts at 2 s and 4 s), a still of its middle shot, a
    photo, and a file that is not media at all."""
    folder = tmp_path_factory.mktemp("footage")
    clip = folder / "three_shots.mp4"
    frames = int(SHOT_SECONDS * 25)
    write_shots(clip, [(media("videos/opencv_vtest.avi"), 0, frames),
                       (media("videos/mmaction2_test.mp4"), 0, frames),
                       (media("videos/techslides_small.mp4"), 0, frames)], size=(320, 180))
    still = folder / "middle_shot.png"
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == frames + frames // 2:
                frame.to_image().save(still)
                break
    photo = folder / "imageio_chelsea.jpg"
    shutil.copyfile(media("images/misc/imageio_chelsea.jpg"), photo)
    broken = folder / "not_a_video.mp4"
    broken.write_bytes(b"this is not a video, only text with a video's name\n" * 20)
    return {"clip": clip, "still": still, "photo": photo, "broken": broken}


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_clip):
    url, process = start_server(tmp_path_factory.mktemp("console_home"), tiny_clip.spec)
    yield url
    stop_server(process)


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    driver = new_browser(tmp_path_factory.mktemp("chromium_profile"))
    driver.get(f"{server}/")
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def uploaded(browser, footage) -> dict[str, str]:
    """Everything uploaded through the page's file input, and indexed: file name -> video id."""
    browser.find_element(By.CSS_SELECTOR, "[data-testid=upload-input]").send_keys(
        "\n".join(str(footage[k]) for k in ("clip", "photo", "broken")))

    def settled(d):
        # Read in one script: the library re-renders as it polls, so element handles go stale.
        states = dict(d.execute_script(
            "return [...document.querySelectorAll('[data-testid=asset]')]"
            ".map(c => [c.querySelector('.name').textContent, c.dataset.status])"))
        return states if len(states) == 2 and all(s in ("ready", "failed") for s in states.values()) else None

    # The file that is not media is refused at upload (a 400 with the reason), so it never
    # becomes a video: two cards.
    states = wait(browser, settled, INDEX_TIMEOUT_S, "two uploads to be ready or failed")
    assert states == {"three_shots.mp4": "ready", "imageio_chelsea.jpg": "ready"}
    shoot(browser, "library")
    return dict(browser.execute_script(
        "return [...document.querySelectorAll('[data-testid=asset]')].map(c => [c.querySelector('.name').textContent,"
        " c.dataset.videoId])"))


@pytest.mark.slow
@needs_chromium
def test_upload_shows_progress_then_status_and_failure_reason(browser, uploaded):
    rows = {r.find_element(By.CSS_SELECTOR, ".name").text: r for r in
            browser.find_elements(By.CSS_SELECTOR, "#uploads li")}
    assert sorted(rows) == ["imageio_chelsea.jpg", "not_a_video.mp4", "three_shots.mp4"]
    for name in ("imageio_chelsea.jpg", "three_shots.mp4"):
        assert float(rows[name].find_element(By.TAG_NAME, "progress").get_attribute("value")) == 1.0
        assert rows[name].find_element(By.CSS_SELECTOR, ".status").text == "ready"
    refused = rows["not_a_video.mp4"].find_element(By.CSS_SELECTOR, ".status").text
    assert refused.startswith("failed: ") and "not a video" in refused, refused
    # The library's filters narrow the list in place.
    status = Select(browser.find_element(By.CSS_SELECTOR, "#library-filters select[name=status]"))
    status.select_by_visible_text("failed")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=asset]") == []
    assert browser.find_element(By.ID, "library-count").text.startswith("0 of 2 shown")
    status.select_by_visible_text("any")
    name = browser.find_element(By.CSS_SELECTOR, "#library-filters input[name=name]")
    name.send_keys("chelsea")
    assert [c.find_element(By.CSS_SELECTOR, ".name").text
            for c in browser.find_elements(By.CSS_SELECTOR, "[data-testid=asset]")] == ["imageio_chelsea.jpg"]
    name.send_keys(Keys.BACKSPACE * len("chelsea"))  # typed away, so the input events fire
    assert len(browser.find_elements(By.CSS_SELECTOR, "[data-testid=asset]")) == 2


def _results(driver):
    return driver.find_elements(By.CSS_SELECTOR, "[data-testid=result]")


def _thumbnails_loaded(driver) -> list[int]:
    return driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=result] img')]"
        ".map(i => i.complete ? i.naturalWidth : -1)")


@pytest.mark.slow
@needs_chromium
def test_search_by_image_finds_its_shot(browser, uploaded, footage):
    browser.find_element(By.LINK_TEXT, "Search").click()
    browser.find_element(By.CSS_SELECTOR, "[data-testid=search-image-input]").send_keys(str(footage["still"]))
    hits = wait(browser, _results, 120, "image search results")
    top = hits[0]
    assert top.get_attribute("data-video-id") == uploaded["three_shots.mp4"]
    # The still comes from the middle shot: the scene that starts at the first cut.
    assert abs(float(top.get_attribute("data-start")) - SHOT_SECONDS) < 0.2
    assert float(top.get_attribute("data-end")) > float(top.get_attribute("data-start"))
    assert "three_shots.mp4" in top.text
    wait(browser, lambda d: all(w > 0 for w in _thumbnails_loaded(d)), 30, "result thumbnails to load")
    shoot(browser, "search")


@pytest.mark.slow
@needs_chromium
def test_search_by_text_with_enter(browser, uploaded):
    browser.find_element(By.CSS_SELECTOR, "#query-image-clear").click()
    box = browser.find_element(By.CSS_SELECTOR, "[data-testid=search-input]")
    box.clear()
    box.send_keys("people walking in a street", Keys.ENTER)

    def text_results(d):
        hits = _results(d)
        summary = d.find_element(By.ID, "search-summary").text
        return hits if hits and "moment" in summary else None

    hits = wait(browser, text_results, 60, "text search results")
    found = {h.get_attribute("data-video-id") for h in hits}
    # Only ready videos come back: the clip and the photo, never the failed upload.
    assert found <= {uploaded["three_shots.mp4"], uploaded["imageio_chelsea.jpg"]} and found
    wait(browser, lambda d: all(w > 0 for w in _thumbnails_loaded(d)), 30, "result thumbnails to load")


@pytest.mark.slow
@needs_chromium
def test_clicking_a_result_plays_from_the_scene_start(browser, uploaded, footage):
    browser.find_element(By.CSS_SELECTOR, "[data-testid=search-image-input]").send_keys(str(footage["still"]))
    def later_start(d):
        starts = [float(h.get_attribute("data-start")) for h in _results(d)]
        return next((s for s in starts if s > 0), None)

    start = wait(browser, later_start, 60, "a result that starts after 0 s")

    def click_it(d):
        hit = next((h for h in _results(d) if float(h.get_attribute("data-start")) == start), None)
        if hit is None:
            return False
        hit.click()
        return True

    wait(browser, click_it, 10, "clicking that result")
    player = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "video[data-testid=player]"), 10, "the player")
    wait(browser, lambda d: d.execute_script("return arguments[0].readyState >= 1 && !arguments[0].seeking",
                                             player), 30, "the video to load")
    now = browser.execute_script("return arguments[0].currentTime", player)
    assert start - 0.05 <= now <= start + 1.5, f"the player is at {now} s, the scene starts at {start} s"
    mark = browser.find_element(By.ID, "timeline-mark")
    assert mark.is_displayed()
    assert browser.find_element(By.ID, "watch-title").text == "three_shots.mp4"
    # The video page lists the video's own scenes (from the server), not only what the search found.
    wait(browser, lambda d: d.find_element(By.ID, "scenes-title").text == "Scenes"
         and len(d.find_elements(By.CSS_SELECTOR, "#scenes li")) >= 2, 30, "the video's scenes")
    shoot(browser, "watch")


@pytest.mark.slow
@needs_chromium
def test_phone_width_has_no_horizontal_overflow(browser, uploaded):
    browser.set_window_size(375, 812)
    try:
        for view in ("watch", "search", "library"):
            if view != "watch":
                browser.find_element(By.CSS_SELECTOR, f"[data-view-link={view}]").click()
            wait(browser, lambda d: d.find_element(By.ID, f"view-{view}").is_displayed(), 10, f"the {view} view")
            assert no_horizontal_overflow(browser), f"the {view} view is wider than 375 px"
            if view == "search":
                shoot(browser, "phone")
    finally:
        browser.set_window_size(1280, 900)


@pytest.mark.slow
@needs_chromium
def test_keyboard_reaches_the_file_input(browser, uploaded):
    browser.find_element(By.CSS_SELECTOR, "[data-view-link=library]").click()
    browser.execute_script("document.activeElement.blur()")
    reached = set()
    for _ in range(30):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        active = browser.switch_to.active_element
        reached.add(active.get_attribute("data-testid") or active.get_attribute("id") or active.tag_name)
        if "upload-input" in reached:
            break
    assert "upload-input" in reached, f"Tab never reached the file input; it reached {sorted(reached)}"


@pytest.mark.slow
@needs_chromium
def test_browser_console_has_no_errors(browser, uploaded):
    # Runs after the views above have all been used. The one error allowed is the browser's own
    # line for the upload this module makes fail on purpose (the server's 400 for not_a_video.mp4).
    errors = [e for e in severe_logs(browser) if not ("/v1.3/tasks" in e["message"] and " 400 " in e["message"])]
    assert errors == []


@pytest.mark.slow
@needs_chromium
def test_page_asks_for_a_key_once_and_keeps_it_for_the_session(tmp_path, tiny_clip):
    url, process = start_server(tmp_path / "home", tiny_clip.spec, "--api-key", "console-test-key")
    driver = new_browser(tmp_path / "profile")
    try:
        driver.get(f"{url}/")
        dialog = wait(driver, lambda d: d.find_element(By.ID, "key-dialog").get_attribute("open") is not None
                      and d.find_element(By.ID, "key-dialog"), 20, "the key dialog")
        dialog.find_element(By.ID, "key-input").send_keys("wrong-key", Keys.ENTER)
        wait(driver, lambda d: "refused" in d.find_element(By.ID, "key-reason").text, 20,
             "the dialog to say the key was refused")
        driver.find_element(By.ID, "key-input").send_keys("console-test-key", Keys.ENTER)
        wait(driver, lambda d: d.find_element(By.ID, "view-library").is_displayed()
             and "upload" in d.find_element(By.ID, "library-count").text.lower(), 20, "the library with the key")
        driver.refresh()
        wait(driver, lambda d: d.find_element(By.ID, "view-library").is_displayed(), 20, "the library after a reload")
        time.sleep(1)
        assert driver.find_element(By.ID, "key-dialog").get_attribute("open") is None, "asked again in one session"
        assert driver.execute_script("return sessionStorage.getItem('sceneline.apiKey')") == "console-test-key"
    finally:
        driver.quit()
        stop_server(process)
