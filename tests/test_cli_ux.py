"""The CLI as a newcomer meets it (issue 16), driven through the installed console script in a
subprocess, as a user would: every everyday mistake is one line on stderr and exit 2, no
traceback; Ctrl-C stops an index cleanly with the `--resume` command; a second terminal can
look at a running index; outputs live beside the index."""

from __future__ import annotations

import json
import os
import shlex
import signal
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import media

from sceneline.transforms.store.advert import ADVERT_NAME

EXE = Path(sys.executable).with_name("sceneline")
# Tests reach no model hub, and no Google Cloud: no emulator, no credentials.
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith(("SCENELINE_", "PUBSUB_EMULATOR", "STORAGE_EMULATOR", "GOOGLE_"))}
VIDEOS = ("psd_counter.mp4", "imageio_realshort.mp4", "mecavideo_balle1-vp9.avi", "techslides_small.webm",
          "mmaction2_test.avi", "techslides_small.flv", "psd_fades.mp4", "nodeopencv_motion.mov")


def sceneline(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    assert EXE.exists(), "the sceneline console script is not installed in this environment"
    merged = {**CLEAN_ENV, "SCENELINE_OFFLINE": "1", **(env or {})}
    return subprocess.run([str(EXE), *args], cwd=cwd, env={k: v for k, v in merged.items() if v is not None},
                          capture_output=True, text=True, timeout=600)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The user error a command printed: exit 2, no traceback, exactly one line on stderr."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens there


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ux")


def test_version(home):
    result = sceneline("--version", cwd=home)
    assert result.returncode == 0 and result.stdout.startswith("sceneline "), result


@pytest.mark.parametrize("args", [["--no-ocrr"], ["--max_duraton_s=10"], ["--captoiner", "none"]])
def test_mistyped_index_options_fail_with_the_possible_options(home, args):
    result = sceneline("index", str(media("images/misc/imageio_chelsea.png")), *args, cwd=home)
    assert result.returncode == 2 and "No such option" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / ".sceneline").exists()  # refused before anything ran


@pytest.mark.slow
def test_everyday_mistakes_are_one_line_each_and_write_nothing(home, tmp_path):
    video, image = str(media("videos/psd_counter.mp4")), str(media("images/misc/imageio_chelsea.png"))
    said = {
        "no index": sceneline("status", cwd=home),
        "search, no index": sceneline("search", "a cat", "--modality", "text", cwd=home),
        "no query": sceneline("search", cwd=home),
        "missing image": sceneline("search", "--image", "nope.jpg", cwd=home),
        "video as image": sceneline("search", "--image", video, cwd=home),
        "empty model (search)": sceneline("search", "x", "--visual-model", "", cwd=home),
        "empty model (index)": sceneline("index", image, "--visual-model", "", cwd=home),
        "image to detect": sceneline("detect", image, cwd=home),
        "unknown arch": sceneline("index", image, "--visual-model", "ViT-B-99:random", cwd=home),
        # Not told --offline, on a machine with no route to the hub: at once, no retries.
        "no hub": sceneline("index", image, "--captioner", "none", cwd=home, env={"SCENELINE_OFFLINE": None}),
        "closed port": sceneline("init-index", "--qdrant-url", f"http://127.0.0.1:{closed_port()}", cwd=home),
        "no credentials": sceneline("setup-bucket", "media", "--project", "p1", cwd=home, env={"HOME": str(tmp_path)}),
        "no cloud": sceneline("launch", "dataflow", "gs://media/v/", "--project", "p1", "--region", "r1",
                              "--bucket", "gs://work", "--qdrant-url", "http://127.0.0.1:1", cwd=home,
                              env={"HOME": str(tmp_path)}),
    }
    lines = {name: one_line_error(result) for name, result in said.items()}
    assert "no index at" in lines["no index"] and "no index at" in lines["search, no index"]
    assert "needs query text" in lines["no query"]
    assert "nope.jpg: no such file" in lines["missing image"]
    assert "is a video" in lines["video as image"]
    assert "empty" in lines["empty model (search)"] and "empty" in lines["empty model (index)"]
    assert "no architecture 'ViT-B-99'" in lines["unknown arch"] and "Ways to supply" not in lines["unknown arch"]
    assert "is an image (png), not a video" in lines["image to detect"]
    assert "no Qdrant server answers" in lines["closed port"]
    assert "is not available" in lines["no hub"] and "--offline" in lines["no hub"]
    assert "credentials" in lines["no credentials"] and "credentials" in lines["no cloud"]
    assert not (home / ".sceneline").exists()  # read-only commands and refused ones wrote nothing


@pytest.mark.parametrize("beam_flag, said", [(["--", "--ocr_gate_side=-5"], "--ocr_gate_side: Input should be greater"),
                                             (["--beam-arg", "ocr_min_confidence=5"], "--ocr_min_confidence: Input should be less")])
def test_a_setting_given_as_a_beam_flag_with_a_refused_value_is_a_user_error(tmp_path, beam_flag, said):
    """Settings after `--` reach only Beam's parser; their declared bounds still hold, as one
    line and exit 2, not a traceback reported as a bug."""
    result = sceneline("index", str(media("images/misc/imageio_chelsea.png")), "--visual-model", "ViT-B-32:random",
                       "--captioner", "none", "--text-model", "none", "--transcriber", "none", *beam_flag, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {said}"), result.stderr


def test_an_unexpected_error_keeps_its_traceback_and_says_how_to_report_it(tmp_path):
    # A command with a bug in it stands in for an unexpected error: the real ones are not known.
    program = ("import typer\nfrom sceneline.pipelines import cli\n"
               "@cli.app.command('boom')\ndef boom() -> None:\n    {}['missing']\ncli.main()\n")
    result = subprocess.run([sys.executable, "-c", program, "boom"], cwd=tmp_path, env=CLEAN_ENV,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "KeyError: 'missing'" in result.stderr
    assert "This is a bug in sceneline" in result.stderr.splitlines()[-1]


def interrupt_when(running: subprocess.Popen, ready, *, within_s: float, poll_s: float, settle_s: float = 0.0,
                   again_after_s: float | None = None) -> str:
    """Once `ready()` (and `settle_s` later), Ctrl-C the running command, a second time
    `again_after_s` after the first if given; its stderr once it has exited."""
    try:
        deadline = time.monotonic() + within_s
        while running.poll() is None and not ready() and time.monotonic() < deadline:
            time.sleep(poll_s)
        assert running.poll() is None, "the command ended before it could be interrupted"
        time.sleep(settle_s)
        running.send_signal(signal.SIGINT)
        if again_after_s is not None:
            time.sleep(again_after_s)
            running.send_signal(signal.SIGINT)
        _, stderr = running.communicate(timeout=120)
    finally:
        if running.poll() is None:
            running.kill()
    return stderr


def _status(cwd: Path, qdrant: Path) -> list[dict]:
    result = sceneline("status", "--qdrant-path", str(qdrant), "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_resume_finishes_while_status_answers(tmp_path):
    inputs, elsewhere = tmp_path / "media", tmp_path / "elsewhere"
    inputs.mkdir()
    elsewhere.mkdir()
    for name in VIDEOS:
        shutil.copy(media(f"videos/{name}"), inputs)
    (inputs / "notes.txt").write_text("not media")
    qdrant = tmp_path / "library" / ".sceneline" / "qdrant"  # the index lives away from the working folder
    # A full-size model (random weights: nothing to download) keeps the run going long enough,
    # and one image per model batch makes the videos reach the index one by one (batch runs fill
    # whole batches from the first, so all of them would otherwise land at once, at the end).
    args = ["index", str(inputs), "--qdrant-path", str(qdrant), "--visual-model", "ViT-B-32:random",
            "--captioner", "none", "--no-ocr", "--text-model", "none", "--beam-arg", "direct_num_workers=1",
            "--beam-arg", "embed_batch_images=1"]
    running = subprocess.Popen([str(EXE), *args], cwd=inputs, env={**CLEAN_ENV, "SCENELINE_OFFLINE": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # A second terminal looks at the running index (the run's records, read while it holds the
    # folder): through the run, never a lock error.
    stderr = interrupt_when(running, lambda: (qdrant / ADVERT_NAME).exists() and any(
        r["status"] == "indexed" for r in _status(elsewhere, qdrant)), within_s=400, poll_s=1)
    assert running.returncode == 130, stderr
    assert "Traceback" not in stderr
    line = [s for s in stderr.splitlines() if s.strip()][-1]
    assert line.startswith("stopped: ") and "--resume" in line, stderr
    assert not (qdrant / ADVERT_NAME).exists()  # the run's advert went with it

    resume = shlex.split(line.split("resume with: ", 1)[1])
    assert resume[0] == "sceneline" and resume[-1] == "--resume"
    finished = sceneline(*resume[1:], cwd=inputs)
    assert finished.returncode == 0, finished.stderr
    assert "skipped 1: not a media file" in finished.stdout  # counted, not listed
    finished_before = int(line.split()[1])  # "stopped: N of M inputs finished; ..."
    # What the stop line counted is already indexed; an asset whose write was landing as Ctrl-C came
    # may be too, and is skipped all the same.
    already = [int(l.split()[1].rstrip(":")) for l in finished.stdout.splitlines() if l.endswith(": already indexed")]
    assert finished_before >= 1 and already and already[0] >= finished_before, finished.stdout
    records = _status(elsewhere, qdrant)
    assert sorted(r["filename"] for r in records if r["status"] == "indexed") == sorted(VIDEOS)

    # Outputs beside the index, not in the folder indexed from; stored paths work from anywhere.
    home = qdrant.parent
    assert not (inputs / ".sceneline").exists() and not (elsewhere / ".sceneline").exists()
    assert any((home / "runs").iterdir()) and any((home / "thumbnails").iterdir())
    assert not [p for p in (home / "dead_letters").rglob("*") if p.is_file()]  # no failures: no files
    hits = sceneline("search", "--image", str(media("images/misc/imageio_chelsea.png")), "--qdrant-path",
                     str(qdrant), "--limit", "3", "--json", cwd=elsewhere)
    assert hits.returncode == 0, hits.stderr
    assert all(Path(h["thumbnail_uri"]).is_file() for h in json.loads(hits.stdout))


def test_detecting_shots_in_a_local_file_does_not_load_beam():
    """Importing Beam costs over a second of CPU: `sceneline detect` of a local file, a quick
    everyday command, finds its shots without it (gs:// URIs still load it when read)."""
    probe = ("import sys\n"
             "from sceneline.transforms.media.shots import detect_shots\n"
             f"found = detect_shots({str(media('groundtruth/gt_hardcuts.mp4'))!r}, max_frames=300)\n"
             "assert found.frames == 300 and found.shots\n"
             "print('apache_beam' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_wait_passively_unless_the_user_says_otherwise(given, expected):
    """OpenMP reads its wait policy once, when torch loads: the command sets it before any torch
    import (the command itself is replaced by a probe here), and leaves a user's own setting alone."""
    probe = ("import os, sys\n"
             "from sceneline.pipelines import cli\n"
             "cli.app = lambda: print('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'))\n"
             "cli.main()")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | ({"OMP_WAIT_POLICY": given} if given else {})
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", expected]


def _reading(process: subprocess.Popen, path: Path) -> bool:
    """Whether `process` has `path` open (detection has started, past the start-up imports)."""
    try:
        return any(os.path.realpath(fd.path) == str(path.resolve()) for fd in os.scandir(f"/proc/{process.pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see when detection has started")
@pytest.mark.parametrize("gap_s", [0.0, 0.002, 0.005, 0.01])
def test_ctrl_c_pressed_twice_during_detect_exits_quietly(gap_s):
    """A second Ctrl-C that lands while the first one's clean-up runs (the decoding thread being
    joined) is ignored: exit 130 and nothing on stderr, not a KeyboardInterrupt traceback."""
    video = media("videos/openboard_wannaworktogether.mp4")  # 5,400 frames: a few seconds to detect
    running = subprocess.Popen([str(EXE), "detect", str(video)], env=CLEAN_ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr = interrupt_when(running, lambda: _reading(running, video), within_s=60, poll_s=0.01, settle_s=0.2,
                            again_after_s=gap_s)
    assert running.returncode == 130, stderr
    assert stderr.strip() == "", stderr
