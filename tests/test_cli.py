"""The `sceneline` console script: index, search and status as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import media

pytestmark = pytest.mark.slow


def sceneline(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("sceneline")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "sceneline.pipelines.cli"]
    env = {**os.environ, "SCENELINE_OFFLINE": "1"}
    return subprocess.run(command + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_clip):
    work = tmp_path_factory.mktemp("cli")
    inputs = work / "media"
    inputs.mkdir()
    shutil.copy(media("videos/psd_testvideo.mp4"), inputs)
    shutil.copy(media("images/misc/imageio_chelsea.png"), inputs)
    (inputs / "broken.mp4").write_bytes(b"\x00" * 100)
    # The default captioner comes from a model hub, which tests cannot reach.
    result = sceneline("index", str(inputs), "--visual-model", tiny_clip.spec, "--captioner", "none", "--json",
                       cwd=work)
    assert result.returncode == 0, result.stderr
    return work, json.loads(result.stdout)


def test_index_prints_one_summary_per_asset(indexed):
    _work, summary = indexed
    by_name = {Path(a["uri"]).name: a for a in summary["assets"]}
    assert by_name["psd_testvideo.mp4"]["status"] == "indexed" and by_name["psd_testvideo.mp4"]["scene_count"] >= 2
    assert by_name["imageio_chelsea.png"]["scene_count"] == 1
    assert by_name["broken.mp4"]["status"] == "failed" and by_name["broken.mp4"]["error"]
    assert summary["counts"] == {"indexed": 2, "failed": 1, "skipped": 0}
    for a in summary["assets"]:
        assert {"asset_id", "uri", "media_type", "status", "scene_count", "error"} <= set(a)


def test_search_by_image_uses_the_model_the_index_recorded(indexed):
    work, summary = indexed
    query = media("images/misc/imageio_chelsea.png")
    result = sceneline("search", "--image", str(query), "--limit", "3", "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits[0]["filename"] == "imageio_chelsea.png" and hits[0]["score"] == pytest.approx(1.0, abs=0.02)
    assert {"asset_id", "uri", "scene_index", "start_s", "end_s", "score", "thumbnail_uri"} <= set(hits[0])
    assert Path(work, hits[0]["thumbnail_uri"]).is_file()


def test_search_by_text_runs_the_text_tower(indexed):
    work, summary = indexed
    result = sceneline("search", "a cat", "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == summary["scenes"]  # every scene, ranked (random weights: order is not meaningful)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_status_lists_assets_and_one_asset(indexed):
    work, summary = indexed
    listed = json.loads(sceneline("status", "--json", cwd=work).stdout)
    assert sorted(r["status"] for r in listed) == ["failed", "indexed", "indexed"]
    failed_id = next(a["asset_id"] for a in summary["assets"] if a["status"] == "failed")
    one = json.loads(sceneline("status", failed_id, "--json", cwd=work).stdout)
    assert one[0]["status"] == "failed" and one[0]["stage"] == "admit"


def test_user_errors_exit_2_with_a_message(tmp_path):
    missing = sceneline("index", str(tmp_path / "nope"), "--visual-model", "none", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    no_model = sceneline("index", str(media("images/misc/imageio_chelsea.png")), cwd=tmp_path)
    assert no_model.returncode == 2 and "ViT-B-32:laion2b_s34b_b79k" in no_model.stderr
    no_index = sceneline("search", "x", cwd=tmp_path)
    assert no_index.returncode == 2 and "sceneline index" in no_index.stderr


def test_serve_lets_other_processes_use_the_folder_and_cleans_up(indexed):
    import signal
    import socket
    import time

    work, summary = indexed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("sceneline")
    server = subprocess.Popen([str(exe), "serve", "--port", str(port)], cwd=work,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    advert = work / ".sceneline" / "qdrant" / "sceneline-owner.json"
    try:
        deadline = time.monotonic() + 120
        while not advert.exists():
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        # The folder is held by the server; these processes reach it through its store protocol.
        listed = sceneline("status", "--json", cwd=work)
        assert listed.returncode == 0, listed.stderr
        assert len(json.loads(listed.stdout)) == 3
        hits = sceneline("search", "--image", str(media("images/misc/imageio_chelsea.png")), "--json", cwd=work)
        assert hits.returncode == 0 and json.loads(hits.stdout)[0]["filename"] == "imageio_chelsea.png"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert not advert.exists()


def test_detect_prints_shots_and_transitions_as_json(tmp_path):
    result = sceneline("detect", str(media("videos/psd_testvideo.mp4")), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["detector"] == "hybrid" and found["frames"] == 720
    shots, transitions = found["shots"], found["transitions"]
    # Shots tile the video; each one after the first starts at a transition of the same kind.
    assert shots[0]["start_frame"] == 0 and shots[-1]["end_frame"] == found["frames"] - 1
    assert shots[-1]["end_s"] == pytest.approx(found["duration_s"])
    for a, b in zip(shots, shots[1:]):
        assert a["end_frame"] + 1 == b["start_frame"] and a["end_s"] == b["start_s"]
    assert [(s["start_frame"], s["transition_in"]) for s in shots[1:]] == [(t["frame"], t["kind"]) for t in transitions]
    assert {t["kind"] for t in transitions} == {"cut", "fade", "dissolve"}
    for t in transitions:
        assert t["start_frame"] <= t["frame"] <= t["end_frame"] + 1 and t["start_s"] <= t["time_s"]


def test_detect_with_another_detector_and_a_bad_file(tmp_path):
    result = sceneline("detect", str(media("groundtruth/gt_hardcuts.mp4")), "--detector", "content", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "16 shots" in result.stdout and "15 transitions" in result.stdout
    (tmp_path / "notes.mp4").write_text("not a video")
    bad = sceneline("detect", str(tmp_path / "notes.mp4"), cwd=tmp_path)
    assert bad.returncode == 2 and "cannot be read as a video" in bad.stderr
    unknown = sceneline("detect", str(media("groundtruth/gt_hardcuts.mp4")), "--detector", "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown detector 'nope'" in unknown.stderr


def _commands(group, path=()):
    """Every command of the CLI, as its words (`("launch", "dataflow")`) and its click command."""
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_command_has_help_with_its_declared_options():
    """--help renders for every command (one with odd markup in a help text would crash), and a
    command that takes a shared option set lists each option of it once."""
    import typer
    from typer.testing import CliRunner

    from sceneline.pipelines.cli import app
    from sceneline.pipelines.cli.option_sets import INDEX_CHAIN_OPTIONS, STORE_OPTIONS

    root = typer.main.get_command(app)
    commands = dict(_commands(root))
    assert {("index",), ("stream",), ("serve",), ("launch", "dataflow"), ("analyze",)} <= set(commands)
    runner = CliRunner()
    for words, command in commands.items():
        result = runner.invoke(app, [*words, "--help"], terminal_width=200)
        assert result.exit_code == 0, f"sceneline {' '.join(words)} --help: {result.output[-500:]}"
    for words in (("index",), ("stream",), ("serve",)):
        flags = [opt for p in commands[words].params for opt in p.opts]
        for group, name in (*STORE_OPTIONS, *INDEX_CHAIN_OPTIONS):
            assert flags.count("--" + group.flag(name).replace("_", "-")) == 1, (words, name)
