"""OCR's detector gate: at which size the text detector first looks, measured for speed and accuracy.

    python -m sceneline.benchmarks.ocr_gate                  # ../shared/media/videos, full size
    python -m sceneline.benchmarks.ocr_gate --gates 384 320  # some gate sizes only
    python -m sceneline.benchmarks.ocr_gate --quick          # two videos, one image (CI smoke test)

OCR's cost is mostly the text detector, and most keyframes hold no text. sceneline's OCR stage
(transforms/models/ocr.py) first runs the detector on the keyframe scaled down to the gate's size;
a keyframe where it finds nothing ends there, the others are read exactly as without the gate. A
small gate is cheap but misses small text; a large one costs nearly a full detection. Every
variant reads the same keyframes, one after another, in turns (--repeats; each keeps its best):

- inputs: every keyframe of ../shared/media/videos as analysis hands it over, the same keyframes
  with a caption burned in, and the OCR tests' images (documents, signs, plates) as the index
  reads an image;
- peer: RapidOCR as it ships (its defaults: the detector upscales to 736 px on the short side,
  ONNX Runtime's idle threads spin);
- sceneline before the gate: full-size detection, threads spinning; then full size without
  spinning, then each gate size.

Accuracy is against sceneline's full-size reads: how many captions are found, the similarity of
the text read (difflib's ratio over each keyframe's lines, averaged), and keyframes where the
full-size read found text and the variant found none.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from sceneline.benchmarks.common import Report, benchmark_parser
from sceneline.benchmarks.decode import VIDEO_SUFFIXES
from sceneline.schemas import MediaAsset, MediaType

GATES = (512, 448, 384, 320, 256)
FULL = "full size"
QUICK_VIDEOS = ("psd_testvideo.mp4", "moviepy_chaplin.mp4")


def index_keyframes(path: Path, media_type: MediaType, number: int) -> list[bytes]:
    """The keyframes analysis hands the OCR stage for one file (an image is one keyframe)."""
    from sceneline.transforms.media.analyze import AnalysisConfig, analyze_asset

    asset = MediaAsset(asset_id=f"00000000-0000-5000-8000-{number:012d}", uri=str(path), media_type=media_type,
                       size_bytes=path.stat().st_size)
    return [kf.jpeg for scene in analyze_asset(asset, AnalysisConfig()).scenes for kf in scene.keyframes]


def input_sets(media: Path, quick: bool) -> dict[str, list[bytes]]:
    from sceneline.benchmarks.understanding import with_caption

    videos = sorted(p for p in (media / "videos").iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    images = sorted((media / "images" / "ocr").iterdir())
    if quick:
        videos, images = [p for p in videos if p.name in QUICK_VIDEOS], images[:1]
    keyframes = [jpeg for i, p in enumerate(videos) for jpeg in index_keyframes(p, MediaType.VIDEO, i)]
    return {"video keyframes": keyframes,
            "with a caption": [with_caption(jpeg) for jpeg in keyframes],
            "OCR test images": [jpeg for i, p in enumerate(images)
                                for jpeg in index_keyframes(p, MediaType.IMAGE, 10_000 + i)]}


@dataclass
class Variant:
    name: str
    read: Callable[[bytes], list[str]]  # a keyframe's lines of text
    runs: dict[str, list[dict[str, float]]]
    lines: dict[str, list[list[str]]]


def variants(gates: Sequence[int]) -> list[Variant]:
    import io

    from PIL import Image
    from rapidocr_onnxruntime import RapidOCR

    from sceneline.transforms.models.ocr import OcrConfig, OcrEngine

    min_confidence = OcrConfig().min_confidence
    shipped = RapidOCR(text_score=min_confidence)

    def read_shipped(jpeg: bytes) -> list[str]:
        found, _elapsed = shipped(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        return [" ".join(str(text).split()) for _box, text, score in found or [] if float(score) >= min_confidence]

    def sceneline(config: OcrConfig) -> Callable[[bytes], list[str]]:
        engine = OcrEngine(config)
        return lambda jpeg: [r.text for r in engine.read(jpeg)]

    readers = [("RapidOCR as shipped", read_shipped),
               ("full size, threads spinning (before)", sceneline(OcrConfig(gate_side=0, spin_threads=True))),
               (FULL, sceneline(OcrConfig(gate_side=0)))]
    readers += [(f"gate {gate} px", sceneline(OcrConfig(gate_side=gate))) for gate in gates]
    return [Variant(name, read, {}, {}) for name, read in readers]


def measure(variant: Variant, sets: dict[str, list[bytes]]) -> None:
    for name, jpegs in sets.items():
        cpu, wall = time.process_time(), time.perf_counter()
        lines = [variant.read(jpeg) for jpeg in jpegs]
        variant.runs.setdefault(name, []).append({"cpu_s": time.process_time() - cpu,
                                                  "wall_s": time.perf_counter() - wall})
        variant.lines[name] = lines


def similarity(read: Sequence[list[str]], reference: Sequence[list[str]]) -> float:
    return sum(difflib.SequenceMatcher(None, "\n".join(a), "\n".join(b)).ratio()
               for a, b in zip(read, reference)) / max(1, len(reference))


def caption_found(lines: list[str]) -> bool:
    from sceneline.benchmarks.understanding import CAPTION

    wanted = CAPTION.replace(" ", "").casefold()
    return any(wanted in line.replace(" ", "").casefold() for line in lines)


def figures(variant: Variant, reference: Variant, sets: dict[str, list[bytes]]) -> dict[str, Any]:
    out: dict[str, Any] = {"variant": variant.name, "sets": {}}
    for name, jpegs in sets.items():
        runs, lines, ref = variant.runs[name], variant.lines[name], reference.lines[name]
        out["sets"][name] = {
            "keyframes": len(jpegs),
            "wall_ms": 1000 * min(r["wall_s"] for r in runs) / max(1, len(jpegs)),
            "cpu_ms": 1000 * min(r["cpu_s"] for r in runs) / max(1, len(jpegs)),
            "with_text": sum(bool(x) for x in lines),
            "missed": sum(bool(r) and not x for x, r in zip(lines, ref)),
            "similarity": similarity(lines, ref),
            "captions_found": sum(caption_found(x) for x in lines) if name == "with a caption" else None,
        }
    return out


def run(media: Path, quick: bool, gates: Sequence[int], repeats: int) -> Report:
    from sceneline.transforms.models.model_spec import set_offline

    set_offline()  # the OCR weights ship in the wheel
    sets = input_sets(media, quick)
    every = variants(gates)
    for variant in every:  # warm-up: ONNX Runtime sets its kernels up on the first call
        variant.read(sets["video keyframes"][0])
    for _ in range(repeats):
        for variant in every:
            measure(variant, sets)
    reference = next(v for v in every if v.name == FULL)
    results = [figures(v, reference, sets) for v in every]

    report = Report(name="ocr_gate", title="OCR: the detector gate's size, measured",
                    intro=__doc__.split("\n\n", 2)[2])
    report.figures.update({"repeats": repeats, "gates": list(gates), "variants": results,
                           "keyframes": {name: len(jpegs) for name, jpegs in sets.items()}})
    rows = []
    for r in results:
        video, caption, images = (r["sets"][name] for name in sets)
        rows.append([r["variant"], f"{video['wall_ms']:.0f}", f"{video['cpu_ms']:.0f}", f"{caption['wall_ms']:.0f}",
                     f"{images['wall_ms']:.0f}", f"{caption['captions_found']}/{caption['keyframes']}",
                     f"{video['with_text']} ({video['missed']} missed)", f"{video['similarity']:.3f}",
                     f"{images['similarity']:.3f} ({images['missed']} missed)"])
    report.table(["variant", "video keyframes: wall ms each", "CPU ms each", "with a caption: wall ms each",
                  "OCR test images: wall ms each", "captions found", "video keyframes with text",
                  "video text similarity", "OCR images similarity"], rows,
                 caption=f"Best of {repeats} runs per variant; {', '.join(f'{len(v)} {k}' for k, v in sets.items())}")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--gates", type=int, nargs="+", default=list(GATES))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    if args.quick:
        args.gates, args.repeats = [384], 1
    print(run(args.media, args.quick, args.gates, args.repeats).write(args.out))


if __name__ == "__main__":
    main()
