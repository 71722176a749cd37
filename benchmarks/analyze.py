"""Analyze benchmark: chapter boundaries against ground-truth shots, answers about words on screen
and spoken words, and latency, for whatever analyzer it is pointed at.

    python -m sceneline.benchmarks.analyze --analyzer openai:MODEL --analyzer-url http://HOST:PORT/v1

Without --analyzer-url it runs a stand-in endpoint on 127.0.0.1 that answers extractively from
the context it is sent (chapters: one per run of scenes; questions: the context line that holds
the asked-about time). That measures sceneline's side (the grounding reaches the model, times
come back on scene boundaries, the request overhead), not a model's quality; the report says so.
Scenes come from sceneline's shot detector on the ground-truth videos; the words on screen and
spoken are planted in the index payload (no OCR or speech model runs here).
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sceneline.benchmarks.common import Report, benchmark_parser

GT_VIDEOS = ("groundtruth/gt_hardcuts.mp4", "groundtruth/gt_mixed.mp4")
WORDS = ("harbour", "violet", "quantum", "meadow", "copper", "lantern", "orbit", "saffron")


def _stand_in_answer(body: dict[str, Any]) -> str:
    text = "\n".join(m["content"] if isinstance(m["content"], str) else
                     " ".join(p.get("text", "") for p in m["content"]) for m in body["messages"])
    if "Divide the video into chapters" in text:
        bounds = [float(x) for x in re.search(r"scene boundaries, in seconds, are: ([0-9., ]+)", text)
                  .group(1).rstrip(". ").split(", ")]
        step = max(1, len(bounds) // 5)
        edges = bounds[::step] + ([bounds[-1]] if bounds[::step][-1] != bounds[-1] else [])
        return json.dumps({"chapters": [{"start_sec": a, "end_sec": b, "chapter_title": f"part {i}",
                                         "chapter_summary": "-"} for i, (a, b) in enumerate(zip(edges, edges[1:]))]})
    asked = re.search(r"at ([0-9.]+)s\?", text.splitlines()[-1] if text else "")
    if asked:
        t = float(asked.group(1))
        for start, end, block in re.findall(r"\[([0-9.]+)s-([0-9.]+)s\] scene \d+\n((?:  .*\n?)*)", text):
            if float(start) <= t < float(end):
                return block.strip()
    return "no answer"


class StandIn:
    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": "stand-in"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self._send({"choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": _stand_in_answer(body)}}]})

            def _send(self, data: dict) -> None:
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _index_video(store, path: Path, asset_id: str) -> tuple[list[tuple[float, float]], dict[int, tuple[str, str]]]:
    """Shots from sceneline's detector as scenes, with a planted word on screen and one spoken."""
    from sceneline.schemas import AnalyzedAsset, MediaAsset, MediaType, ProbeInfo, Scene
    from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
    from sceneline.schemas.speech import SpeechSegment
    from sceneline.transforms.media.shots import detect_shots

    found = detect_shots(str(path), "hybrid", fast=True)
    planted, scenes, speech = {}, [], []
    for i, shot in enumerate(found.shots):
        shown, said = WORDS[i % len(WORDS)].upper(), WORDS[(i + 3) % len(WORDS)]
        planted[i] = (shown, said)
        scenes.append(Scene(index=i, start_s=shot.start_s, end_s=shot.end_s, start_frame=shot.start_frame,
                            end_frame=shot.end_frame, vectors={VISUAL_VECTOR: [1.0, 0.0, 0.0, 0.0]},
                            enrichment={"visible_text": f"SIGN: {shown}", "transcript": f"the word is {said}"}))
        speech.append(SpeechSegment(index=i, start_s=shot.start_s, end_s=shot.end_s, text=f"the word is {said}"))
    analyzed = AnalyzedAsset(
        asset=MediaAsset(asset_id=asset_id, uri=str(path), media_type=MediaType.VIDEO, size_bytes=path.stat().st_size),
        probe=ProbeInfo(duration_s=found.duration_s, display_width=640, display_height=360), scenes=scenes,
        speech=speech)
    store.write_scenes(analyzed)
    store.write_speech(analyzed)
    return [(s.start_s, s.end_s) for s in found.shots], planted


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--analyzer", default="openai:stand-in")
    parser.add_argument("--analyzer-url", default=None)
    args = parser.parse_args(argv)

    from sceneline.pipelines.analysis import AnalysisRequest, AnalysisSettings, Analyzer
    from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
    from sceneline.transforms.models.caption_spec import EndpointSettings
    from sceneline.transforms.models.generation import GeneratorConfig, load_generator
    from sceneline.transforms.store.scene_store import SceneStore, StoreConfig

    stand_in = None if args.analyzer_url else StandIn()
    url = args.analyzer_url or stand_in.url
    store = SceneStore(StoreConfig(path=":memory:", collection="bench_analyze"))
    store.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "none"})
    analyzer = Analyzer(store, load_generator(GeneratorConfig(args.analyzer, EndpointSettings(base_url=url))),
                        AnalysisSettings(keyframes=0))
    videos = GT_VIDEOS[:1] if args.quick else GT_VIDEOS
    rows, per_video, latencies = [], {}, {"chapter": [], "question": []}
    try:
        for n, rel in enumerate(videos):
            path = args.media / rel
            gt = json.loads(path.with_suffix(".gt.json").read_text())
            cuts = [t.get("frame", t.get("start")) / gt["fps"] for t in gt["transitions"]]
            asset_id = f"{n + 1:08d}-0000-5000-8000-000000000000"
            shots, planted = _index_video(store, path, asset_id)
            started = time.monotonic()
            chapters = analyzer.summarize(asset_id, "chapter", temperature=0.0)["chapters"]
            latencies["chapter"].append(time.monotonic() - started)
            inner = [c["start_sec"] for c in chapters[1:]]
            tolerance = 2 / gt["fps"] if "hardcuts" in rel else 20 / gt["fps"]
            on_cut = sum(any(abs(b - c) <= tolerance for c in cuts) for b in inner)
            asked = list(planted.items())[: 3 if args.quick else 8]
            screen_ok = spoken_ok = 0
            for i, (shown, said) in asked:
                middle = (shots[i][0] + shots[i][1]) / 2
                started = time.monotonic()
                answer = analyzer.analyze(asset_id, AnalysisRequest(
                    f"What word is on screen, and what word is spoken, at {middle:.1f}s?", temperature=0.0)).text
                latencies["question"].append(time.monotonic() - started)
                screen_ok += shown.lower() in answer.lower()
                spoken_ok += said.lower() in answer.lower()
            per_video[rel] = {"shots_detected": len(shots), "gt_cuts": len(cuts), "chapters": len(chapters),
                              "chapter_boundaries_on_gt_cuts": on_cut, "inner_boundaries": len(inner),
                              "on_screen_correct": screen_ok, "spoken_correct": spoken_ok, "questions": len(asked)}
            rows.append([rel, len(shots), len(chapters), f"{on_cut}/{len(inner)}", f"{screen_ok}/{len(asked)}",
                         f"{spoken_ok}/{len(asked)}"])
    finally:
        if stand_in:
            stand_in.close()
    report = Report("analyze", "Analyze: chapters, on-screen and spoken words, latency")
    who = (f"the analyzer `{args.analyzer}` at {args.analyzer_url}" if args.analyzer_url else
           "a **stand-in endpoint** that answers extractively from the context it is sent (no chat model's "
           "weights can be had on this machine): these figures measure sceneline's grounding and snapping, "
           "not a model's quality")
    report.text(f"Analyzer: {who}. Scenes come from sceneline's hybrid shot detector; words on screen and "
                "spoken are planted in the index payload.")
    report.table(["video", "scenes", "chapters", "chapter boundaries on a ground-truth cut",
                  "on-screen word right", "spoken word right"], rows)
    lat = {k: {"median_s": statistics.median(v), "max_s": max(v), "n": len(v)} for k, v in latencies.items() if v}
    report.table(["request", "n", "median (s)", "max (s)"],
                 [[k, v["n"], v["median_s"], v["max_s"]] for k, v in lat.items()], caption="Latency")
    report.figures = {"analyzer": args.analyzer, "stand_in": stand_in is not None, "videos": per_video,
                      "latency": lat}
    print(report.write(args.out))


if __name__ == "__main__":
    main()
