"""Reliability: every kind of hostile input through one batch run, and the faults it survives.

    python -m sceneline.benchmarks.reliability            # ViT-B-32 (random weights), with kill + resume
    python -m sceneline.benchmarks.reliability --quick    # smoke test: no visual model, no kill

Writes benchmarks/reports/reliability.md (and .json): the kinds of input tried and each one's
outcome with its reason, the faults injected (store writes failing, a SIGKILL mid-run, models
that cannot load) and whether each was survived, and the inputs lost (must be 0). The inputs
and faults are the tests' own (tests/hostile_inputs.py, tests/fault_injection.py), so the
report shows what CI checks.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from sceneline.benchmarks.common import REPO_ROOT, Report, benchmark_parser

sys.path.insert(0, str(REPO_ROOT / "tests"))  # the generator and the faults live beside the tests

from fault_injection import (  # noqa: E402
    MISSING_MODELS,
    FlakyWrites,
    index_argv,
    index_with_missing_model,
    kill_then_resume,
    make_clips,
)
from hostile_inputs import RUN_LIMIT_ARGS, make_hostile_inputs  # noqa: E402

OUTPUT_FOLDERS = ("qdrant", "thumbs", "dead", "runs")
REASON_CHARS = 160


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _short(text: str | None) -> str:
    text = (text or "").replace("|", "/").replace("\n", " ")
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"


def hostile_inputs(work: Path, media, visual_spec: str) -> dict[str, Any]:
    """One batch run over every kind; outcomes per kind, inputs lost, files written astray."""
    from sceneline.pipelines import batch_index
    from sceneline.transforms.store.scene_store import close_shared_clients

    inputs, out, cwd = work / "inputs", work / "out", work / "cwd"
    cwd.mkdir(parents=True)
    kinds = make_hostile_inputs(inputs, media)
    before = _tree(work)
    previous = os.getcwd()
    os.chdir(cwd)  # anything written relative to the working folder would land here
    try:
        run = batch_index.run(index_argv(inputs, out, visual_spec) + RUN_LIMIT_ARGS)
    finally:
        os.chdir(previous)
        close_shared_clients()
    per_uri = Counter(o.uri for o in run.outcomes)
    outcomes = {o.uri: o for o in run.outcomes}
    rows, lost, unexpected = [], 0, []
    for kind in kinds:
        for path in kind.files:
            uri = str(path.resolve())
            if per_uri[uri] != 1:
                lost += 1
                continue
            o = outcomes[uri]
            if o.status.value not in kind.expect:
                unexpected.append(kind.name)
            reason = o.error_message if o.status.value != "indexed" else (
                f"{o.scene_count} scene(s)" + (f"; warnings: {o.error_message}" if o.error_message else ""))
            rows.append({"kind": kind.name, "what": kind.what, "file": path.name, "expected": sorted(kind.expect),
                         "outcome": o.status.value, "stage": o.stage,
                         "reason": (reason or "").replace(f"{inputs.resolve()}/", "")})
    stray = sorted(p for p in _tree(work) - before
                   if p != "out" and not any(p == f"out/{d}" or p.startswith(f"out/{d}/") for d in OUTPUT_FOLDERS))
    return {"kinds": len(kinds), "inputs": sum(len(k.files) for k in kinds), "rows": rows,
            "counts": dict(Counter(r["outcome"] for r in rows)), "lost": lost, "unexpected": unexpected,
            "stray_files": stray, "elapsed_s": round(run.elapsed_s, 1)}


def store_faults(work: Path, media, visual_spec: str) -> dict[str, Any]:
    """Store writes failing: twice for one asset (retried), always for another (dead letter)."""
    from sceneline.pipelines import batch_index
    from sceneline.transforms.store.scene_store import SceneStore, close_shared_clients

    make_clips(work / "in", ["flaky.mp4", "down.mp4", "fine.mp4"], media)
    real = SceneStore.write_scenes
    flaky = FlakyWrites(real)
    SceneStore.write_scenes = lambda store, analyzed: flaky(store, analyzed)  # injected fault
    try:
        run = batch_index.run(index_argv(work / "in", work / "out", visual_spec))
    finally:
        SceneStore.write_scenes = real
        close_shared_clients()
    letters = [line for p in (work / "out" / "dead").rglob("*.jsonl") for line in p.read_text().splitlines()]
    outcomes = {o.filename: o for o in run.outcomes}
    survived = (outcomes["flaky.mp4"].status.value == "indexed" and outcomes["fine.mp4"].status.value == "indexed"
                and outcomes["down.mp4"].status.value == "failed" and len(letters) == 1 and len(outcomes) == 3)
    detail = (f"write calls {dict(flaky.calls)}; flaky.mp4 {outcomes['flaky.mp4'].status.value} after 2 refusals; "
              f"down.mp4 {outcomes['down.mp4'].status.value} at stage {outcomes['down.mp4'].stage} "
              f"(retryable={outcomes['down.mp4'].retryable}) with {len(letters)} dead letter; 3 of 3 inputs accounted for")
    return {"fault": "Qdrant writes failing (2 refusals, then a store down for good)", "survived": survived,
            "detail": detail}


def kill_and_resume(work: Path, media, visual_spec: str) -> dict[str, Any]:
    names = [f"clip_{i:02d}.mp4" for i in range(10)]
    make_clips(work / "in", names, media, frames=100, size=(160, 96))
    result = kill_then_resume(work / "in", work / "out", visual_spec, cwd=work)
    skipped = {a["asset_id"] for a in result.resumed_assets if a["status"] == "skipped"}
    redone = [a for a in result.resumed_assets if a["status"] == "indexed"]
    survived = (result.killed and result.resumed_returncode == 0 and skipped == result.indexed_before
                and len(redone) + len(skipped) == len(names))
    detail = (f"SIGKILL of `sceneline index` with {len(result.indexed_before)} of {len(names)} assets indexed; "
              f"`--resume` skipped those {len(skipped)} and indexed the other {len(redone)}")
    return {"fault": "worker killed mid-asset (SIGKILL), then `sceneline index --resume`", "survived": survived,
            "detail": detail}


def model_failures(work: Path, media, visual_spec: str) -> list[dict[str, Any]]:
    make_clips(work / "in", ["one.mp4"], media)
    found = []
    for n, (flag, spec) in enumerate(MISSING_MODELS):
        out = work / f"out{n}"
        code, message = index_with_missing_model(work / "in", out, visual_spec, flag, spec, work / "missing")
        found.append({"fault": f"model cannot load ({flag})", "survived": code == 2 and not out.exists(),
                      "detail": f"exit {code} before any work, nothing written: {_short(message)}"})
    return found


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    args = parser.parse_args(argv)
    media = lambda relative: args.media / relative  # noqa: E731
    visual_spec = "none" if args.quick else "ViT-B-32:random"
    os.environ.setdefault("SCENELINE_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="sceneline-reliability-") as tmp:
        work = Path(tmp)
        hostile = hostile_inputs(work / "hostile", media, visual_spec)
        faults = [store_faults(work / "store", media, visual_spec)]
        if not args.quick:
            faults.append(kill_and_resume(work / "kill", media, visual_spec))
        faults += model_failures(work / "models", media, visual_spec)

    report = Report("reliability", "Reliability: hostile inputs and faults", intro=(
        f"One batch run (FnApiRunner, local Qdrant folder, visual model `{visual_spec}`, scene understanding "
        f"off, `{' '.join(RUN_LIMIT_ARGS)}`, other limits at their defaults) over {hostile['inputs']} files of "
        f"{hostile['kinds']} kinds made by tests/hostile_inputs.py, then each fault of tests/fault_injection.py."))
    report.text("## Summary")
    report.table(["figure", "value"], [
        ["kinds of input tried", hostile["kinds"]],
        ["input files", hostile["inputs"]],
        ["indexed / failed / skipped", " / ".join(str(hostile["counts"].get(s, 0))
                                                  for s in ("indexed", "failed", "skipped"))],
        ["outcomes other than the kind allows", len(hostile["unexpected"])],
        ["files written outside the output folders", len(hostile["stray_files"])],
        ["faults injected / survived", f"{len(faults)} / {sum(f['survived'] for f in faults)}"],
        ["**inputs lost**", f"**{hostile['lost']}**"],
        ["batch run over the hostile inputs, seconds", hostile["elapsed_s"]],
    ])
    report.text("## Outcome per kind")
    report.table(["kind", "input", "file", "allowed", "outcome", "stage", "reason"],
                 [[r["kind"], r["what"], f"`{_short(r['file'])[:48]}`", "/".join(r["expected"]), r["outcome"],
                   r["stage"] or "", _short(r["reason"])] for r in hostile["rows"]])
    report.text("## Faults injected")
    report.table(["fault", "survived", "what happened"],
                 [[f["fault"], "yes" if f["survived"] else "**no**", f["detail"]] for f in faults])
    if args.quick:
        report.notes.append("--quick: no visual model, and the kill-and-resume fault is left out.")
    report.notes.append("Limit failures name the limit and the flag that changes it; see docs/limits_and_reliability.md.")
    report.figures = {"kinds": hostile["kinds"], "inputs": hostile["inputs"], "counts": hostile["counts"],
                      "inputs_lost": hostile["lost"], "unexpected": hostile["unexpected"],
                      "stray_files": hostile["stray_files"], "outcomes": hostile["rows"], "faults": faults}
    print(report.write(args.out))


if __name__ == "__main__":
    main()
