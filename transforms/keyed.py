"""Carry a key through DoFns written for bare elements.

The stream keys each element by the Pub/Sub delivery that brought it, so the step that
acknowledges the message finds the delivery beside the outcome; the batch pipeline keys by asset
id. Both run the same DoFns (admit, analyse, write ...) through this wrapper.
"""

from __future__ import annotations

from typing import Any, Iterator

import apache_beam as beam


class KeepKeys(beam.DoFn):
    """Run a DoFn on the values of (key, value) pairs; each output, tagged or not, keeps its
    input's key. The wrapped DoFn's process must take only the element (no DoFn params) and
    its finish_bundle must emit nothing, which holds for sceneline's DoFns."""

    def __init__(self, fn: beam.DoFn):
        super().__init__()
        self._fn = fn

    def default_label(self) -> str:
        return f"KeepKeys({self._fn.default_label()})"

    def setup(self) -> None:
        self._fn.setup()

    def start_bundle(self) -> None:
        self._fn.start_bundle()

    def process(self, keyed: tuple[Any, Any]) -> Iterator:
        key, value = keyed
        for out in self._fn.process(value) or ():
            if isinstance(out, beam.pvalue.TaggedOutput):
                yield beam.pvalue.TaggedOutput(out.tag, (key, out.value))
            else:
                yield key, out

    def finish_bundle(self) -> None:
        self._fn.finish_bundle()

    def teardown(self) -> None:
        self._fn.teardown()
