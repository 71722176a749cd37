"""`sceneline stream` and `sceneline setup-bucket`: keep the index in step with a bucket.

Around the streaming pipeline (pipelines/stream_index.py) the command prints each event's
outcome as it is acknowledged, stops cleanly on Ctrl-C or SIGTERM, and sums up."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections import Counter
from typing import Any, List, Optional, TextIO

import typer

from sceneline.pipelines.bucket_setup import BucketSetup, setup_bucket as make_bucket_setup
from sceneline.pipelines.cli.common import (
    BeamArgs,
    Verbose,
    configure_logging,
    option,
    out,
    run_guarded,
    settings_argv,
    split_beam_flags,
    with_options,
)
from sceneline.pipelines.cli.index import INDEX_GROUPS
from sceneline.pipelines.cli.option_sets import INDEX_CHAIN_OPTIONS, LIMIT_OPTIONS, OUTPUT_OPTIONS, STORE_OPTIONS
from sceneline.transforms.io.gcp_env import require_cloud_credentials
from sceneline.schemas.settings import StreamSettings


@with_options(*STORE_OPTIONS, *INDEX_CHAIN_OPTIONS, *OUTPUT_OPTIONS, *LIMIT_OPTIONS)
def stream(
    subscription: str = option(StreamSettings, "subscription", default=...),
    runner: str = option(StreamSettings, "runner"),
    api_media_root: Optional[str] = option(StreamSettings, "api_media_root"),
    json_out: bool = typer.Option(False, "--json", help="Print each event's outcome as a JSON line."),
    verbose: bool = Verbose,
    beam_args: Optional[List[str]] = BeamArgs,
    **settings: Any,
) -> None:
    """Keep the index in step with a bucket, from its notifications on Pub/Sub.

    Uploads are indexed and deleted objects removed as their events arrive; each message is
    acknowledged once its outcome is recorded. Runs until Ctrl-C (locally); flags for Beam go
    with --beam-arg NAME=VALUE (e.g. --beam-arg lease_extension_s=30)."""
    configure_logging(verbose)
    given = {**settings, "subscription": subscription, "runner": runner, "api_media_root": api_media_root}
    argv = [f"--runner={runner}"] + settings_argv(given, *INDEX_GROUPS, StreamSettings) \
        + split_beam_flags(None, beam_args)[1]
    run_guarded(stream_until_stopped, argv, as_json=json_out, label=subscription)


def setup_bucket(
    bucket: str = typer.Argument(..., help="The bucket, NAME or gs://NAME."),
    project: str = typer.Option(..., "--project", envvar="GOOGLE_CLOUD_PROJECT", help="Project of the Pub/Sub topics."),
    topic: str = typer.Option("sceneline-uploads", "--topic", help="Topic the bucket notifies."),
    subscription: str = typer.Option("sceneline-stream", "--subscription", help="Subscription the stream reads."),
    dead_letter_topic: Optional[str] = typer.Option(
        None, "--dead-letter-topic", help="Where Pub/Sub forwards messages no delivery settles (and a stream "
                                          "can write its dead letters: --dead-letter projects/P/topics/T)."),
    max_delivery_attempts: int = typer.Option(5, "--max-delivery-attempts", min=5, max=100),
    ack_deadline_s: int = typer.Option(60, "--ack-deadline", min=10, max=600, help="Seconds."),
    prefix: Optional[str] = typer.Option(None, "--prefix", help="Only objects whose names start with this."),
    notification: bool = typer.Option(True, "--notification/--no-notification",
                                      help="Create the bucket notification (off: Pub/Sub only)."),
) -> None:
    """Create the topic, subscription and bucket notification a stream reads.

    Also a dead-letter topic if named; each resource is left alone if it exists."""
    configure_logging(False)
    name = bucket[len("gs://"):] if bucket.startswith("gs://") else bucket
    run_guarded(require_cloud_credentials, "setup-bucket")
    steps = run_guarded(make_bucket_setup, BucketSetup(
        project=project, bucket=name.strip("/"), topic=topic, subscription=subscription,
        dead_letter_topic=dead_letter_topic, max_delivery_attempts=max_delivery_attempts,
        ack_deadline_s=ack_deadline_s, prefix=prefix, notification=notification))
    for step in steps:
        out.print(step, highlight=False, soft_wrap=True)
    out.print(f"stream it with: sceneline stream --subscription projects/{project}/subscriptions/{subscription}",
              highlight=False, soft_wrap=True)


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
    # The streaming pipeline (Beam, Pub/Sub, the models) loads only when a stream starts.
    from sceneline.pipelines.stream_index import OUTCOME_LOGGER, run

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


def register(app: typer.Typer) -> None:
    app.command()(stream)
    app.command("setup-bucket")(setup_bucket)
