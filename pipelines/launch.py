"""Launch plans: the exact pipeline options for running sceneline on Dataflow or Flink.

A plan is data (which pipeline module, and its argv), built from a few settings a user gives,
so it can be printed, checked by tests, and then handed unchanged to the pipeline's `run()`.
Everything the workers need comes from the plan: they run on other machines, so the index is
a Qdrant server (`--qdrant_url`) and every file location is in a bucket.

Dataflow GPU workers follow Dataflow's documentation: the accelerator is a service option
(`worker_accelerator=type:...;count:N;install-nvidia-driver`), the worker image is ours
(`--sdk_container_image`, Runner v2, `--sdk_location=container`), and there is one SDK process
per worker VM (`no_use_multiple_sdk_containers`): with one process per vCPU each would load its
own copy of the model onto the one GPU (and RunInference fails with several: Beam issue 22895).
`--gpu-sharing mps` instead keeps a process per vCPU and shares the GPU through NVIDIA MPS, as
Dataflow documents it (count 1, `use_nvidia_mps`, and not `no_use_multiple_sdk_containers`).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Literal

from apache_beam.options.pipeline_options import PipelineOptions

import sceneline.pipelines.options  # noqa: F401  (registers sceneline's flags with Beam's parser)

from sceneline.schemas.failures import UserError
from sceneline.schemas.settings import ModelSettings, StoreSettings

BATCH_PIPELINE = "sceneline.pipelines.batch_index"
# The streaming pipeline (a Pub/Sub subscription of bucket notifications) lives in its own module
# with the same `run(argv)`; its options are named here as data.
STREAM_PIPELINE = "sceneline.pipelines.stream_index"

GPU_MACHINE_TYPES = {"nvidia-l4": "g2-standard-8"}  # L4 comes only with G2 machines
DEFAULT_GPU_MACHINE_TYPE = "n1-standard-8"  # T4, V100, P100, P4 attach to N1 machines
DEFAULT_CPU_MACHINE_TYPE = "n2-standard-8"
GPU_DISK_GB = 50  # CUDA wheels make the worker image large; the default disk is too small
# On a GPU, one forward pass can take many images; the model cuts them to what fits in memory.
GPU_EMBED_BATCH_IMAGES = 256
FLINK_VERSION = "1.20"
FLINK_WORKER_POOL = "localhost:50000"  # the SDK worker pool sidecar beside each task manager


class LaunchError(UserError, ValueError):
    """Settings that cannot make a working job (said before anything is submitted)."""


@dataclass(frozen=True)
class Job:
    """What to run, whatever the runner: a batch over inputs, or a stream from a subscription."""

    qdrant_url: str
    output_prefix: str  # thumbnails, dead letters and run records go under it
    inputs: tuple[str, ...] = ()
    subscription: str | None = None
    qdrant_api_key: str | None = None
    collection: str = StoreSettings.default("collection")
    visual_model: str | None = ModelSettings.default("visual_model")
    detach: bool = False  # batch: return once submitted (streaming jobs always do)
    extra: tuple[str, ...] = ()  # further Beam or sceneline flags, passed through last

    @property
    def streaming(self) -> bool:
        return self.subscription is not None

    @property
    def pipeline(self) -> str:
        return STREAM_PIPELINE if self.streaming else BATCH_PIPELINE

    def check(self) -> None:
        if bool(self.inputs) == self.streaming:
            raise LaunchError("give inputs to index (a batch job) or --subscription (a streaming job), not both")
        if not self.qdrant_url:
            raise LaunchError("workers run on other machines: give the Qdrant server with --qdrant-url "
                              "(deploy/qdrant has one; `sceneline init-index` prepares it)")
        if self.streaming and not re.fullmatch(r"projects/[^/]+/subscriptions/[^/]+", self.subscription or ""):
            raise LaunchError(f"--subscription must be projects/PROJECT/subscriptions/NAME, not {self.subscription!r}")

    def flags(self, worker_paths_ok: Callable[[str], bool]) -> list[str]:
        for path in (*self.inputs, self.output_prefix):
            if not worker_paths_ok(path):
                raise LaunchError(f"{path} is not reachable from the workers: use a bucket (gs://...)")
        prefix = self.output_prefix.rstrip("/")
        flags = [f"--input={p}" for p in self.inputs]
        if self.subscription:
            flags.append(f"--subscription={self.subscription}")
        flags += [f"--qdrant_url={self.qdrant_url}", f"--collection={self.collection}",
                  f"--thumbnails={prefix}/thumbnails", f"--dead_letter={prefix}/dead_letters",
                  f"--run_dir={prefix}/runs"]
        if self.qdrant_api_key:
            flags.append(f"--qdrant_api_key={self.qdrant_api_key}")
        if self.visual_model:
            flags.append(f"--visual_model={self.visual_model}")
        if self.streaming:
            flags += ["--streaming", "--no_wait_until_finish"]
        elif self.detach:
            flags.append("--no_wait_until_finish")
        return flags


@dataclass
class LaunchPlan:
    """A pipeline module and the argv its `run()` gets."""

    pipeline: str
    argv: list[str]
    notes: list[str] = field(default_factory=list)

    def options(self) -> dict[str, Any]:
        """The argv as Beam parses it: {option: value} for every option set."""
        return PipelineOptions(self.argv).get_all_options(drop_default=True, retain_unknown_options=True)

    def unknown_flags(self) -> list[str]:
        """Flags neither Beam nor sceneline defines (a typo would be dropped silently by Beam)."""
        known = PipelineOptions(self.argv).get_all_options(drop_default=True, retain_unknown_options=False)
        return sorted(set(self.options()) - set(known))

    def as_data(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "argv": self.argv, "options": self.options(), "notes": self.notes}

    def run(self) -> Any:
        """Hand the argv to the pipeline's run() (this submits the job)."""
        try:
            module = importlib.import_module(self.pipeline)
        except ModuleNotFoundError as exc:
            raise LaunchError(f"this installation has no {self.pipeline} ({exc})") from exc
        return module.run(self.argv)


def _is_bucket_path(path: str) -> bool:
    return path.startswith("gs://")


def default_job_name(job: Job, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return f"sceneline-{'stream' if job.streaming else 'batch'}-{stamp}"


@dataclass(frozen=True)
class DataflowTarget:
    project: str
    region: str
    bucket: str  # gs://BUCKET[/prefix]: temp and staging go under it
    image: str | None = None  # the worker image built from deploy/dataflow/Dockerfile
    gpu_type: str | None = "nvidia-l4"  # None: CPU workers
    gpu_count: int = 1
    gpu_sharing: Literal["process", "mps"] = "process"
    machine_type: str | None = None
    max_workers: int = 10
    num_workers: int | None = None
    job_name: str | None = None
    service_account: str | None = None
    subnetwork: str | None = None


def dataflow_plan(job: Job, target: DataflowTarget) -> LaunchPlan:
    job.check()
    if not re.fullmatch(r"gs://[^/]+(/.*)?", target.bucket):
        raise LaunchError(f"--bucket must be gs://BUCKET[/PREFIX], not {target.bucket!r}")
    if not target.project or not target.region:
        raise LaunchError("Dataflow needs --project and --region")
    if target.gpu_type and not target.image:
        raise LaunchError("GPU workers need the worker image (CUDA, PyAV, torch, sceneline): build "
                          "deploy/dataflow/Dockerfile, push it, and pass --image")
    if target.gpu_sharing == "mps" and target.gpu_count != 1:
        raise LaunchError("NVIDIA MPS on Dataflow works with one GPU per worker (--gpu-count 1)")
    bucket = target.bucket.rstrip("/")
    notes: list[str] = []
    argv = [
        "--runner=DataflowRunner", f"--project={target.project}", f"--region={target.region}",
        f"--job_name={target.job_name or default_job_name(job)}",
        f"--temp_location={bucket}/temp", f"--staging_location={bucket}/staging",
        f"--max_num_workers={target.max_workers}",
    ]
    if target.num_workers:
        argv.append(f"--num_workers={target.num_workers}")
    if target.service_account:
        argv.append(f"--service_account_email={target.service_account}")
    if target.subnetwork:
        argv.append(f"--subnetwork={target.subnetwork}")
    experiments = ["use_runner_v2"]  # custom containers run on Runner v2
    if target.image:
        argv += [f"--sdk_container_image={target.image}", "--sdk_location=container"]
    if target.gpu_type:
        machine = target.machine_type or GPU_MACHINE_TYPES.get(target.gpu_type, DEFAULT_GPU_MACHINE_TYPE)
        accelerator = f"worker_accelerator=type:{target.gpu_type};count:{target.gpu_count};install-nvidia-driver"
        if target.gpu_sharing == "mps":
            accelerator += ";use_nvidia_mps"
            notes.append("one SDK process per vCPU shares the GPU through NVIDIA MPS; each loads the model")
        else:
            experiments.append("no_use_multiple_sdk_containers")
            notes.append("one SDK process per worker VM holds the model on the GPU (Beam issue 22895)")
        argv += [f"--machine_type={machine}", f"--dataflow_service_options={accelerator}",
                 f"--disk_size_gb={GPU_DISK_GB}",
                 "--model_device=cuda", "--hwaccel=cuda", f"--embed_batch_images={GPU_EMBED_BATCH_IMAGES}"]
    else:
        argv.append(f"--machine_type={target.machine_type or DEFAULT_CPU_MACHINE_TYPE}")
    argv.append(f"--experiments={','.join(experiments)}")  # streaming: Streaming Engine, always on
    argv += job.flags(_is_bucket_path) + list(job.extra)
    return LaunchPlan(job.pipeline, argv, notes)


@dataclass(frozen=True)
class FlinkTarget:
    """A Flink cluster: through a Beam job server (`job_endpoint`, e.g. deploy/flink on
    Kubernetes) or straight to Flink's REST endpoint (`flink_master`, a session cluster; the
    job goes as one jar, which the FlinkRunner makes from Beam's job server release)."""

    job_endpoint: str | None = None
    flink_master: str | None = None
    flink_version: str = FLINK_VERSION
    parallelism: int | None = None
    environment: Literal["external", "docker"] = "external"
    worker_pool: str = FLINK_WORKER_POOL
    image: str | None = None  # for environment "docker": the worker image
    gpu: bool = False  # task managers have a GPU (and the worker pool runs the GPU image)
    checkpoint_interval_ms: int = 60_000  # streaming jobs only


def flink_plan(job: Job, target: FlinkTarget) -> LaunchPlan:
    job.check()
    if bool(target.job_endpoint) == bool(target.flink_master):
        raise LaunchError("give exactly one of --job-endpoint (a Beam job server) and --flink-master (Flink REST)")
    if target.environment == "docker" and not target.image:
        raise LaunchError("the docker environment needs --image (the worker image)")
    notes: list[str] = []
    if target.job_endpoint:
        argv = ["--runner=PortableRunner", f"--job_endpoint={target.job_endpoint}"]
        notes.append("the job server stages artifacts in a folder its task managers share (deploy/flink)")
    else:
        argv = ["--runner=FlinkRunner", f"--flink_master={target.flink_master}",
                f"--flink_version={target.flink_version}", "--flink_submit_uber_jar"]
        if job.streaming:  # an uber jar carries Flink's own options through
            argv.append(f"--checkpointing_interval={target.checkpoint_interval_ms}")
    if target.environment == "external":
        argv += ["--environment_type=EXTERNAL", f"--environment_config={target.worker_pool}"]
    else:
        argv += ["--environment_type=DOCKER", f"--environment_config={target.image}"]
    if target.parallelism:
        argv.append(f"--parallelism={target.parallelism}")
    if target.gpu:
        argv += ["--model_device=cuda", "--hwaccel=cuda", f"--embed_batch_images={GPU_EMBED_BATCH_IMAGES}"]
    argv += job.flags(lambda path: "://" in path) + list(job.extra)
    return LaunchPlan(job.pipeline, argv, notes)


def flex_template_argv(argv: list[str]) -> tuple[str, list[str]]:
    """The pipeline and argv for a Flex Template launch: streaming when a subscription is
    given; never waiting, since Dataflow's launcher must exit once the job is submitted."""
    streaming = any(a.startswith("--subscription") for a in argv)
    extra = ["--streaming"] if streaming and "--streaming" not in argv else []
    if "--no_wait_until_finish" not in argv:
        extra.append("--no_wait_until_finish")
    return (STREAM_PIPELINE if streaming else BATCH_PIPELINE), list(argv) + extra


def flex_template_main(argv: list[str]) -> None:
    pipeline, full_argv = flex_template_argv(argv)
    LaunchPlan(pipeline, full_argv).run()
