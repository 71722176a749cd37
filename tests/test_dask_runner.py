"""sceneline's DaskRunner on a real 2-process dask cluster: what Beam's own DaskRunner loses
(tagged outputs, finish_bundle output, all but one sink) arrives, side inputs work, and every
element is processed exactly once (upstream of a side input too)."""

from __future__ import annotations

import json
from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from beam_probes import HoldUntilBundleEnds, SplitAndLog
from sceneline.pipelines.options import resolve_runner

pytestmark = pytest.mark.slow


def read_lines(folder, prefix) -> list[str]:
    return sorted(line for path in folder.glob(f"{prefix}*") if path.is_file() for line in path.read_text().splitlines())


def test_dask_runner_keeps_every_output_and_runs_each_element_once(tmp_path):
    log = tmp_path / "calls.log"
    out = tmp_path / "out"
    options = PipelineOptions(["--runner=DaskRunner", "--dask_workers=2"])
    runner = resolve_runner(options.view_as(beam.options.pipeline_options.StandardOptions).runner)
    assert runner == "sceneline.pipelines.dask_runner.DaskRunner"
    p = beam.Pipeline(runner=runner, options=options)
    numbers = p | beam.Create(list(range(20)))
    split = numbers | beam.ParDo(SplitAndLog(str(log))).with_outputs("odd", main="even")
    total = numbers | "Total" >> beam.CombineGlobally(sum)
    _ = (split.even
         | "AddTotal" >> beam.Map(lambda n, t: json.dumps([n, t]), beam.pvalue.AsSingleton(total))
         | "WriteEven" >> beam.io.WriteToText(str(out / "even")))
    _ = (split.odd
         | beam.ParDo(HoldUntilBundleEnds())
         | beam.Map(str)
         | "WriteOdd" >> beam.io.WriteToText(str(out / "odd")))
    p.run().wait_until_finish()

    calls = Counter(int(line.split()[0]) for line in log.read_text().splitlines())
    assert calls == Counter(range(20))  # each element once, though a side input hangs below it
    assert sorted(json.loads(line) for line in read_lines(out, "even")) == [[n, 190] for n in range(0, 20, 2)]
    assert sorted(int(v) for v in read_lines(out, "odd")) == [n * 100 for n in range(1, 20, 2)]
    assert not list(out.glob("beam-temp-*"))  # both sinks finalised


def test_dask_runner_uses_a_running_scheduler_and_leaves_it_running(tmp_path):
    import dask.distributed as ddist

    # Threads in this process stand in for a remote cluster: the runner only sees its address.
    with ddist.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        options = PipelineOptions(["--runner=DaskRunner", f"--dask_client_address={cluster.scheduler_address}"])
        p = beam.Pipeline(runner=resolve_runner("DaskRunner"), options=options)
        _ = (p | beam.Create(list(range(7))) | beam.Map(lambda n: str(n * n))
             | beam.io.WriteToText(str(tmp_path / "squares")))
        p.run().wait_until_finish()
        assert sorted(int(v) for v in read_lines(tmp_path, "squares")) == [n * n for n in range(7)]
        with ddist.Client(cluster.scheduler_address) as client:
            assert len(client.scheduler_info()["workers"]) == 1  # the run closed its client, not the cluster
