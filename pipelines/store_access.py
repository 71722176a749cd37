"""Which store the pipeline's workers write to.

A local Qdrant folder admits one process. Workers in this process share its client (and the
folder is served to other local processes while the run holds it); workers
in other processes on this machine (FnApiRunner multi_processing, DaskRunner) reach the folder
through a gateway this process serves for the run; workers on other machines (Dataflow, Flink)
need a Qdrant server URL.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from apache_beam.options.pipeline_options import PipelineOptions

from sceneline.pipelines.options import runner_of, workers_on_this_machine, workers_share_this_process
from sceneline.transforms.store.scene_store import StoreConfig, StoreConfigError
from sceneline.transforms.store.advert import advertised_url
from sceneline.transforms.store.gateway import serve_folder


@contextlib.contextmanager
def store_for_workers(config: StoreConfig, opts: PipelineOptions) -> Iterator[StoreConfig]:
    """Yield the store config to hand to workers, serving a local folder while needed."""
    if config.url or config.path == ":memory:" and workers_share_this_process(opts):
        yield config
        return
    if workers_share_this_process(opts):
        # Workers use this process's client; the gateway is for other terminals (`sceneline
        # status`, `search`) while the run holds the folder, unless its owner serves it already.
        with contextlib.ExitStack() as sharing:
            if not advertised_url(config.path):
                sharing.enter_context(serve_folder(config.path))
            yield config
        return
    if config.path == ":memory:":
        raise StoreConfigError(f"an in-memory store cannot be shared with {runner_of(opts)} workers in other "
                               "processes; use --qdrant-path or --qdrant-url")
    if not workers_on_this_machine(opts):
        raise StoreConfigError(f"{runner_of(opts)} workers cannot reach the local folder {config.path}; "
                               "give a Qdrant server with --qdrant-url")
    with serve_folder(config.path) as url:
        yield StoreConfig(url=url, collection=config.collection)
