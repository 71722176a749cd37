"""Beam's DaskRunner, made to run sceneline's pipelines correctly on dask.distributed.

Beam 2.77's DaskRunner (`apache_beam.runners.dask`) is a prototype that loses data in
pipelines like ours: a ParDo's tagged outputs all land in one bag (so the failures branch
receives assets), anything emitted from `finish_bundle` is dropped (BatchElements, and so
RunInference, emit their last batch there; file sinks emit their results there), only the
last transform's bag is computed (a pipeline with two sinks runs one), and side inputs are
computed again inside workers. This runner keeps Beam's overrides (Create, GroupByKey, Flatten,
Reshuffle as placeholders) and translates them anew:

- every output PCollection gets its own bag (a multi-output ParDo runs once per partition and
  its outputs are split by tag);
- a DoFn is set up once per worker thread and run, start to finish bundle, over a partition;
- GroupByKey is a tree reduction (dask's task shuffle grows with the square of the partitions);
- side inputs are whole bags handed to the consuming tasks as dask dependencies;
- every leaf of the graph is computed, in one graph, so shared work runs once;
- with no scheduler address, a LocalCluster of `--dask_workers` processes is started for the
  run and closed after it.

Batch only, global window (what Beam's DaskRunner supports too).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import uuid
from typing import Any, Iterable

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.internal import pickler
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, Receiver, _OutputHandler
from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunner as BeamDaskRunner, DaskRunnerResult
from apache_beam.runners.dask.overrides import _Create, _Flatten, _GroupAlsoByWindow, _GroupByKeyOnly, dask_overrides
from apache_beam.runners.dask.transform_evaluator import defenestrate
from apache_beam.runners.runner import PipelineState
from apache_beam.transforms.core import WindowInto
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.transforms.window import GlobalWindows

from sceneline.pipelines.options import SceneLineOptions

log = logging.getLogger(__name__)

# A Create is cut into this many partitions per worker thread (one task each, so a slow file
# holds up only its own partition), or one partition per element when there are fewer. More
# partitions mean more tasks in every later step: dask's scheduler pays for each.
PARTITIONS_PER_THREAD = 4


# ---- inside workers ------------------------------------------------------------------------
@dataclasses.dataclass
class _TagCollector(Receiver):
    tag: str | None
    out: list

    def receive(self, windowed_value) -> None:
        self.out.append((self.tag, windowed_value.value))


class _Receivers(dict):
    """Output receivers by tag (None: the main output), all writing (tag, value) to one list."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[tuple[str | None, Any]] = []

    def __missing__(self, tag):
        self[tag] = _TagCollector(tag, self.out)
        return self[tag]


@dataclasses.dataclass
class _Stage:
    """What a task needs to run one ParDo over a partition. The DoFn travels pickled (Beam's
    pickler), so each worker thread sets up its own copy and the shared stage never holds
    live state (clients, locks, models) that dask would have to send on to other workers."""

    run_token: str
    label: str
    payload: bytes  # pickled (DoFn, args, kwargs)
    side_views: list  # (view class, view options), in the order of the transform's side inputs

    def unpickle(self) -> tuple[beam.DoFn, list, dict]:
        fn, args, kwargs = pickler.loads(self.payload)
        return fn, list(args), dict(kwargs)


class _SetUpDoFns(threading.local):
    """DoFns set up in this worker thread, by (run, label): setup runs once per thread, not per
    partition (RunInference loads its model in setup). A new run tears the old ones down."""

    run_token: str | None = None

    def __init__(self) -> None:
        self.invokers: dict[str, tuple[DoFnInvoker, _Receivers]] = {}

    def invoker(self, stage: _Stage, side_inputs: list[SideInputMap]) -> tuple[DoFnInvoker, _Receivers]:
        if self.run_token != stage.run_token:
            for invoker, _ in self.invokers.values():
                invoker.invoke_teardown()
            self.invokers.clear()
            self.run_token = stage.run_token
        if stage.label not in self.invokers or side_inputs:
            receivers = _Receivers()
            handler = _OutputHandler(
                window_fn=GlobalWindows(), main_receivers=receivers[None], tagged_receivers=receivers,
                per_element_output_counter=None, output_batch_converter=None,
                process_yields_batches=False, process_batch_yields_elements=False)
            fn, args, kwargs = stage.unpickle()
            invoker = DoFnInvoker.create_invoker(
                DoFnSignature(fn), handler, context=DoFnContext(stage.label, state=None),
                side_inputs=side_inputs, input_args=args, input_kwargs=kwargs,
                user_state_context=None, bundle_finalizer_param=beam.DoFn.BundleFinalizerParam())
            invoker.invoke_setup()
            if side_inputs:  # side inputs belong to this task: nothing to keep
                return invoker, receivers
            self.invokers[stage.label] = (invoker, receivers)
        return self.invokers[stage.label]


_set_up = _SetUpDoFns()


def _run_bundle(items: Iterable, stage: _Stage, *side_values: list) -> list[tuple[str | None, Any]]:
    """Run a DoFn over one partition as one bundle; returns its outputs as (tag, value)."""
    side_inputs = [SideInputMap(view, options, [GlobalWindows.windowed_value(v) for v in values])
                   for (view, options), values in zip(stage.side_views, side_values)]
    invoker, receivers = _set_up.invoker(stage, side_inputs)
    receivers.out.clear()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(GlobalWindows.windowed_value(item))
    invoker.invoke_finish_bundle()  # after the loop: what it emits counts too
    out = list(receivers.out)
    receivers.out.clear()
    if side_inputs:
        invoker.invoke_teardown()
    return out


def _select(outputs: Iterable[tuple[str | None, Any]], tag: str | None) -> list:
    return [value for out_tag, value in outputs if out_tag == tag]


def _key(item: tuple) -> Any:
    return item[0]


def _add_value(values: list, item: tuple) -> list:
    values.append(defenestrate(item[1]))  # ReifyWindows wrapped each value with its window
    return values


def _merge_values(left: list, right: list) -> list:
    return left + right


def _group_by_key(bag):
    """(key, value) pairs -> (key, [values]). A tree reduction (O(partitions) tasks; dask's
    task shuffle makes O(partitions^2)), then spread back over as many partitions."""
    grouped = bag.foldby(_key, _add_value, list, _merge_values, list)
    return grouped.repartition(npartitions=max(1, bag.npartitions))


def _flatten(bags: list):
    """Concatenated bags, merged back to the widest input's partition count (chained Flattens
    would otherwise multiply the tasks of everything downstream)."""
    import dask.bag as db

    merged = db.concat(bags)
    widest = max(b.npartitions for b in bags)
    return merged.repartition(npartitions=widest) if merged.npartitions > widest else merged


def _per_partition(name: str, func, bag, *whole):
    """func(partition, *whole values) for each partition of `bag`, where each of `whole` is a
    dask collection with one key (an Item, a Delayed), passed as it is. Bag.map_partitions
    would first optimise such arguments, renaming their tasks: everything upstream of a side
    input would then run twice, file writes and index writes included."""
    from dask._task_spec import Task, TaskRef
    from dask.bag import Bag
    from dask.highlevelgraph import HighLevelGraph

    layer = {(name, i): Task((name, i), func, TaskRef((bag.name, i)), *(TaskRef(w.key) for w in whole))
             for i in range(bag.npartitions)}
    return Bag(HighLevelGraph.from_collections(name, layer, dependencies=[bag, *whole]), name, bag.npartitions)


def _concat(parts: list[list]) -> list:
    return [item for part in parts for item in part]


def _count(partition: Iterable) -> list[int]:
    return [sum(1 for _ in partition)]


# ---- graph building (in the launching process) -----------------------------------------------
class _BagBuilder(PipelineVisitor):
    """Translate each leaf transform into dask bags, one per output PCollection."""

    def __init__(self, bag_kwargs: dict, threads: int = 1):
        self.bag_kwargs = bag_kwargs
        self.threads = threads
        self.run_token = uuid.uuid4().hex
        self.bags: dict[pvalue.PCollection, Any] = {}
        self.consumed: set[pvalue.PCollection] = set()

    def visit_transform(self, node: AppliedPTransform) -> None:
        inputs = [i for i in node.inputs if isinstance(i, pvalue.PCollection)]
        self.consumed.update(inputs)
        self.consumed.update(si.pvalue for si in node.side_inputs)
        transform = node.transform
        in_bags = [self.bags[i] for i in inputs]
        if isinstance(transform, _Create):
            self._set_main(node, self._create(transform.values))
        elif isinstance(transform, _GroupByKeyOnly):
            self._set_main(node, _group_by_key(in_bags[0]))
        elif isinstance(transform, _Flatten):
            self._set_main(node, _flatten(in_bags))
        elif isinstance(transform, beam.ParDo) and not isinstance(transform, (WindowInto, _GroupAlsoByWindow)):
            self._pardo(node, in_bags[0])
        elif in_bags:  # Reshuffle, windowing in the global window, GroupAlsoByWindow: identity
            self._set_main(node, in_bags[0])

    def _set_main(self, node: AppliedPTransform, bag) -> None:
        for out in node.outputs.values():
            self.bags[out] = bag

    def _create(self, values: tuple):
        import dask.bag as db

        items = list(values)
        if self.bag_kwargs.get("npartitions") or self.bag_kwargs.get("partition_size"):
            return db.from_sequence(items, npartitions=self.bag_kwargs.get("npartitions"),
                                    partition_size=self.bag_kwargs.get("partition_size"))
        partitions = max(1, min(len(items), PARTITIONS_PER_THREAD * self.threads))
        return db.from_sequence(items, partition_size=max(1, math.ceil(len(items) / partitions)))

    def _pardo(self, node: AppliedPTransform, in_bag) -> None:
        import dask

        transform = node.transform
        args, kwargs = transform.raw_side_inputs
        stage = _Stage(self.run_token, node.full_label, pickler.dumps((transform.fn, tuple(args), dict(kwargs))),
                       [(type(si), si._view_options()) for si in node.side_inputs])
        # One graph node holds the stage (its pickled DoFn), not a copy in every partition's task;
        # a side input is its whole bag gathered into one dask Item.
        shared_stage = dask.delayed(stage, name=f"stage-{self.run_token}-{node.full_label}", traverse=False)
        sides = [self.bags[si.pvalue].reduction(list, _concat) for si in node.side_inputs]
        outputs = _per_partition(f"{node.full_label}-{uuid.uuid4().hex[:12]}", _run_bundle, in_bag,
                                 shared_stage, *sides)
        for tag, out in node.outputs.items():
            self.bags[out] = outputs.map_partitions(_select, tag)

    def leaves(self) -> list:
        """One small bag per unconsumed PCollection (its element count per partition), so that
        computing them runs the whole graph without pulling its data to the client."""
        return [bag.map_partitions(_count) for pcoll, bag in self.bags.items() if pcoll not in self.consumed]


@dataclasses.dataclass
class LocalDaskRunResult(DaskRunnerResult):
    """A run that owns its client (and its LocalCluster, when it started one): both close
    once the run is over."""

    cluster: Any = None

    def wait_until_finish(self, duration=None) -> str:
        try:
            return super().wait_until_finish(duration)
        finally:
            if self._state in (PipelineState.DONE, PipelineState.FAILED):
                self.close()

    def cancel(self) -> str:
        try:
            return super().cancel()
        finally:
            self.close()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            # Workers that imported torch take longer to exit than the nanny waits; it then
            # kills them and warns. The run is over, so that is expected, not news.
            nanny_log = logging.getLogger("distributed.nanny")
            level = nanny_log.level
            nanny_log.setLevel(logging.ERROR)
            try:
                self.cluster.close()
            finally:
                nanny_log.setLevel(level)
            self.cluster = None


def connect(options) -> tuple[Any, Any]:
    """A dask client for the run: to the scheduler named in the options, or to a LocalCluster
    of `--dask_workers` processes started here (returned too, so the run can close it)."""
    import dask.distributed as ddist

    # distributed sets its loggers to INFO when imported; follow the application's level instead
    # (the CLI shows INFO only with --verbose).
    logging.getLogger("distributed").setLevel(max(logging.getLogger().getEffectiveLevel(), logging.INFO))
    dask_options = options.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True)
    DaskOptions._extract_bag_kwargs(dask_options)
    if dask_options.get("address") or dask_options.get("scheduler_file"):
        return ddist.Client(**dask_options), None
    workers = options.view_as(SceneLineOptions).dask_workers or os.cpu_count() or 1
    cluster = ddist.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                 dashboard_address=None)
    log.info("started a local dask cluster of %d worker processes at %s", workers, cluster.scheduler_address)
    return ddist.Client(cluster), cluster


class DaskRunner(BeamDaskRunner):
    """Run a batch pipeline on dask.distributed (see the module docstring)."""

    def run_pipeline(self, pipeline, options):
        bag_kwargs = DaskOptions._extract_bag_kwargs(
            options.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True))
        pipeline.replace_all(dask_overrides())
        # Connect before building: dask picks some of its graph strategies from the client it finds.
        client, cluster = connect(options)
        result = LocalDaskRunResult(client, [], cluster)
        try:
            builder = _BagBuilder(bag_kwargs, threads=sum(client.nthreads().values()) or 1)
            pipeline.visit(builder)
            result.futures = client.compute(builder.leaves())
        except BaseException:
            result.close()
            raise
        return result
