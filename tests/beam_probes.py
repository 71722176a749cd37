"""DoFns for runner tests, in an importable module: workers in other processes load them by name."""

from __future__ import annotations

import os

import apache_beam as beam


class SplitAndLog(beam.DoFn):
    """Evens to the main output, odds to "odd"; logs every call, to count how often each runs."""

    def __init__(self, log_path: str):
        self._log_path = log_path

    def process(self, n: int):
        with open(self._log_path, "a") as log:
            log.write(f"{n} {os.getpid()}\n")
        if n % 2:
            yield beam.pvalue.TaggedOutput("odd", n)
        else:
            yield n


class HoldUntilBundleEnds(beam.DoFn):
    """Emits nothing while processing, everything from finish_bundle (as BatchElements does)."""

    def start_bundle(self):
        self._held = []

    def process(self, n: int):
        self._held.append(n)

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.windowed_value import WindowedValue

        for n in self._held:
            yield WindowedValue(n * 100, 0, [GlobalWindow()])
