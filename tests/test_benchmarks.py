"""Smoke test: every benchmark runs in its tiny version and writes a report with its figures
(speed itself is measured by the benchmarks, never asserted here)."""

from __future__ import annotations

import json

import pytest

from sceneline.benchmarks import suite

pytestmark = pytest.mark.slow


def test_the_quick_suite_writes_every_report(tmp_path, media_root):
    suite.main(["--quick", "--out", str(tmp_path), "--media", str(media_root)])
    for name in ("decode", "end_to_end", "embedding", "model_stages", "ocr_gate", "search", "long_video", "dask_scaling", "stream"):
        report = (tmp_path / f"{name}.md").read_text()
        assert report.startswith("# ") and "Command:" in report and "cores" in report, name
        figures = json.loads((tmp_path / f"{name}.json").read_text())
        assert figures["figures"] and figures["machine"]["versions"]["apache-beam"], name
    assert list(tmp_path.glob("*.png")), "no charts were drawn"
    index = (tmp_path / "README.md").read_text()
    assert all(f"({n}.md)" in index for n in suite.BENCHMARKS)
    decode = json.loads((tmp_path / "decode.json").read_text())["figures"]["files"]
    assert len(decode) == 2 and all(r["frames"] > 0 and r["ffmpeg_fps"] > 0 and r["sceneline_fps"] > 0 for r in decode)
    # Reports with their own writers: shot detection scores against ground truth, understanding.
    shots = json.loads((tmp_path / "shot_detection.json").read_text())["files"]["groundtruth/gt_hardcuts.mp4"]
    assert set(shots["runs"]) == {"hybrid", "psd-content"} and shots["runs"]["hybrid"]["boundaries"]
    assert "F1" in (tmp_path / "shot_detection.md").read_text()
    understanding = json.loads((tmp_path / "understanding.json").read_text())
    assert understanding["ocr"]["scenes"] == 2 and understanding["captioner"]
    assert understanding["transcriber"]["s_per_audio_minute"] > 0
    speech = json.loads((tmp_path / "speech.json").read_text())["figures"]
    [tiny] = speech["models"]
    assert tiny["available"] and 0 <= tiny["wer"] <= 1 and tiny["realtime_x"] > 0 and tiny["peer"]["realtime_x"] > 0
    e2e = json.loads((tmp_path / "end_to_end.json").read_text())["figures"]
    assert e2e["counts"]["indexed"] == 3 and e2e["frames_decoded"] > 0 and e2e["peak_rss_mib"] > 0
    stages = json.loads((tmp_path / "model_stages.json").read_text())["figures"]["stages"]
    assert [s["stage"] for s in stages] == ["ocr", "text", "transcribe"]
    assert all(s["items"] > 0 and s["cpu_ratio"] > 0 and s["wall_ratio"] > 0 for s in stages)
    gate = json.loads((tmp_path / "ocr_gate.json").read_text())["figures"]["variants"]
    assert [v["variant"] for v in gate][2:] == ["full size", "gate 384 px"]
    assert all(s["wall_ms"] > 0 and 0 <= s["similarity"] <= 1 for v in gate for s in v["sets"].values())
    images = json.loads((tmp_path / "images.json").read_text())["figures"]
    assert images["indexed"] == images["images"] == 16 and images["failed"] == 0
    assert images["sceneline"]["cpu_s"] > 0 and images["plain_loop"]["cpu_s"] > 0 and images["cpu_ratio"] > 0
    search = json.loads((tmp_path / "search.json").read_text())["figures"]["results"]
    assert {r["mode"] for r in search} == {"embedded", "exact"} and all(r["p95_ms"] > 0 for r in search)
    assert all(0 < r["recall_at_10"] <= 1 and r["peak_rss_mib"] > 0 for r in search)
    scaling = json.loads((tmp_path / "dask_scaling.json").read_text())["figures"]["runs"]
    assert len({r["scenes"] for r in scaling.values()}) == 1, "workers found different scenes"
    stream = json.loads((tmp_path / "stream.json").read_text())["figures"]
    assert stream["uploads"] == 2 and 0 < stream["median_s"] <= stream["max_s"]
    reliability = json.loads((tmp_path / "reliability.json").read_text())["figures"]
    assert reliability["kinds"] >= 30 and reliability["inputs_lost"] == 0 and not reliability["unexpected"]
    assert reliability["faults"] and all(f["survived"] for f in reliability["faults"])
    api = json.loads((tmp_path / "api.json").read_text())["figures"]
    assert api["search"][0]["api"]["requests"] > 0 and api["search"][0]["api"]["errors"] == 0
    assert api["load"]["uploads_accepted"] > 0 and api["load"]["uploads_lost"] == 0
    assert api["upload"]["status"] == 200 and api["upload"]["api_mb_s"] > 0
