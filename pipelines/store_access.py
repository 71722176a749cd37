"""Which store the pipeline's workers write to.

A local Qdrant folder admits one process. Workers in this process share its client; workers
in other processes on this machine (FnApiRunner multi_processing, DaskRunner) reach the folder
through the store protocol this process serves for the run (found by the folder's advert);
workers on other machines (Dataflow, Flink) need a Qdrant server URL.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator

from apache_beam.options.pipeline_options import PipelineOptions

from sceneline.pipelines.store_service import serve_store
from sceneline.pipelines.options import runner_of, workers_on_this_machine, workers_share_this_process
from sceneline.transforms.store.scene_store import StoreConfig, StoreConfigError


@contextlib.contextmanager
def store_for_workers(config: StoreConfig, opts: PipelineOptions) -> Iterator[StoreConfig]:
    """Yield the store config to hand to workers, serving a local folder while needed."""
    if config.url or config.path == ":memory:" and workers_share_this_process(opts):
        yield config
        return
    if workers_share_this_process(opts):
        # Workers use this process's engine; the folder is served to other terminals (`sceneline
        # status`, `search`) while the run holds it, unless its owner serves it already.
        from sceneline.transforms.store.advert import advertised_url

        with contextlib.ExitStack() as sharing:
            if not advertised_url(config.path):
                sharing.enter_context(serve_store(config.path))
            yield config
        return
    if config.path == ":memory:":
        raise StoreConfigError(f"an in-memory store cannot be shared with {runner_of(opts)} workers in other "
                               "processes; use --qdrant-path or --qdrant-url")
    if not workers_on_this_machine(opts):
        raise StoreConfigError(f"{runner_of(opts)} workers cannot reach the local folder {config.path}; "
                               "give a Qdrant server with --qdrant-url")
    import os

    from sceneline.transforms.store.advert import advertised_url

    folder = os.path.abspath(config.path)  # workers may not share this process's working folder
    workers = dataclasses.replace(config, path=folder)
    if advertised_url(folder):  # another process owns and serves it: the workers go there too
        yield workers
        return
    with serve_store(folder):
        yield workers
