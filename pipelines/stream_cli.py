"""What `sceneline stream` does around the pipeline: print each event's outcome as it is
acknowledged, stop cleanly on Ctrl-C or SIGTERM, and sum up."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections import Counter
from typing import TextIO

from sceneline.pipelines.stream_index import OUTCOME_LOGGER, run


class OutcomePrinter(logging.Handler):
    """Prints the stream's outcome reports: a line each, or one JSON object a line."""

    def __init__(self, out: TextIO, as_json: bool):
        super().__init__(level=logging.INFO)
        self._out = out
        self._as_json = as_json
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        outcome = getattr(record, "outcome", None)
        if outcome is None:
            return
        self.counts[outcome["kind"]] += 1
        if self._as_json:
            line = json.dumps(outcome)
        else:
            scenes = f"  {outcome['scene_count']} scene(s)" if outcome["kind"] == "indexed" else ""
            detail = f"  {outcome['detail']}" if outcome["detail"] and outcome["kind"] != "indexed" else ""
            line = f"{outcome['kind']:<9} {outcome['uri'] or outcome['message_id']}{scenes}{detail}"
        print(line, file=self._out, flush=True)


class _QuietBeamMemoryWarning(logging.Filter):
    # RunInference logs this on every model load when scipy is missing (its memory probe then
    # imports without the resource module); the local runner loads per bundle, from a cache.
    def filter(self, record: logging.LogRecord) -> bool:
        return "memory usage cannot be fetched" not in record.getMessage()


def stream_until_stopped(argv: list[str], *, as_json: bool, label: str = "", err: TextIO = sys.stderr) -> Counter[str]:
    """Run the stream until Ctrl-C or SIGTERM; returns how many events ended each way."""
    printer = OutcomePrinter(sys.stdout, as_json)
    outcomes = logging.getLogger(OUTCOME_LOGGER)
    outcomes.setLevel(logging.INFO)
    outcomes.propagate = False
    outcomes.addHandler(printer)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietBeamMemoryWarning())

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def ready(url: str | None) -> None:
        where = f"; other processes reach the index at {url}" if url else ""
        print(f"streaming {label}{where} (Ctrl-C stops)", file=err, flush=True)

    try:
        summary = run(argv, stop=stop, on_ready=ready)
    finally:
        outcomes.removeHandler(printer)
    if summary.state == "STOPPED":
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(printer.counts.items())) or "no events"
        print(f"stopped: {counts}", file=err, flush=True)
    else:
        print(f"submitted to {summary.runner}: {summary.state}", file=err, flush=True)
    return printer.counts
