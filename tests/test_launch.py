"""Launch plans for Dataflow and Flink, checked as data: the options Beam will see, flag by flag.
No cloud is called: Dataflow and Flink cannot be reached from here, so the one test of the real
launch path stands a recorder in for the pipeline's run() and checks what it was handed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sceneline.pipelines import batch_index, launch
from sceneline.pipelines.cli import app
from sceneline.pipelines.cli import launch as launch_cli
from sceneline.pipelines.launch import (
    DataflowTarget,
    FlinkTarget,
    Job,
    LaunchError,
    dataflow_plan,
    flex_template_argv,
    flink_plan,
)
from sceneline.pipelines.options import must_wait

QDRANT = "http://qdrant.internal:6333"
IMAGE = "us-central1-docker.pkg.dev/proj-1/sceneline/sceneline-worker:7"
SUBSCRIPTION = "projects/proj-1/subscriptions/sceneline-uploads-sceneline"


def batch_job(**kw) -> Job:
    return Job(inputs=("gs://media-bucket/videos/",), qdrant_url=QDRANT,
               output_prefix="gs://work-bucket/sceneline", **kw)


def gpu_target(**kw) -> DataflowTarget:
    return DataflowTarget(project="proj-1", region="us-central1", bucket="gs://work-bucket", image=IMAGE,
                          job_name="sceneline-test", **kw)


def test_dataflow_gpu_batch_job_has_everything_dataflow_documents():
    plan = dataflow_plan(batch_job(), gpu_target(max_workers=20))
    options = plan.options()
    assert plan.pipeline == "sceneline.pipelines.batch_index"
    assert plan.unknown_flags() == []  # every flag is one Beam or sceneline defines
    assert options["runner"] == "DataflowRunner"
    assert (options["project"], options["region"], options["job_name"]) == ("proj-1", "us-central1", "sceneline-test")
    assert options["temp_location"] == "gs://work-bucket/temp"
    assert options["staging_location"] == "gs://work-bucket/staging"
    assert options["dataflow_service_options"] == [
        "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"]
    assert options["machine_type"] == "g2-standard-8"  # L4 GPUs come only with G2 machines
    assert options["max_num_workers"] == 20
    assert options["sdk_container_image"] == IMAGE and options["sdk_location"] == "container"
    assert set(options["experiments"]) == {"use_runner_v2", "no_use_multiple_sdk_containers"}
    assert options["disk_size_gb"] >= 50
    # sceneline's own knobs for a GPU worker, and every output in the bucket
    assert (options["model_device"], options["hwaccel"]) == ("cuda", "cuda")
    assert options["embed_batch_images"] > 32
    assert options["input"] == ["gs://media-bucket/videos/"]
    assert options["qdrant_url"] == QDRANT
    for key in ("thumbnails", "dead_letter", "run_dir"):
        assert options[key].startswith("gs://work-bucket/sceneline/")
    assert "no_wait_until_finish" not in options  # a batch launch waits and reports, unless detached
    assert "streaming" not in options


def test_dataflow_streaming_job_reads_the_subscription_and_returns_at_once():
    job = Job(subscription=SUBSCRIPTION, qdrant_url=QDRANT, output_prefix="gs://work-bucket/sceneline")
    plan = dataflow_plan(job, gpu_target())
    options = plan.options()
    assert plan.pipeline == "sceneline.pipelines.stream_index"
    assert f"--subscription={SUBSCRIPTION}" in plan.argv
    assert options["streaming"] is True
    assert options["no_wait_until_finish"] is True
    assert "input" not in options


def test_mps_shares_the_gpu_between_processes_instead_of_one_process():
    options = dataflow_plan(batch_job(), gpu_target(gpu_sharing="mps")).options()
    assert options["dataflow_service_options"] == [
        "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver;use_nvidia_mps"]
    assert "no_use_multiple_sdk_containers" not in options["experiments"]


def test_other_gpus_get_n1_machines_and_cpu_jobs_no_accelerator():
    t4 = dataflow_plan(batch_job(), gpu_target(gpu_type="nvidia-tesla-t4", gpu_count=2)).options()
    assert t4["machine_type"].startswith("n1-")
    assert t4["dataflow_service_options"] == ["worker_accelerator=type:nvidia-tesla-t4;count:2;install-nvidia-driver"]
    cpu = dataflow_plan(batch_job(), gpu_target(gpu_type=None)).options()
    assert "dataflow_service_options" not in cpu and "model_device" not in cpu and "hwaccel" not in cpu
    assert cpu["experiments"] == ["use_runner_v2"]


@pytest.mark.parametrize("job, target, message", [
    (Job(inputs=("/home/me/videos",), qdrant_url=QDRANT, output_prefix="gs://b/s"), gpu_target(), "not reachable"),
    (Job(inputs=("gs://b/v",), qdrant_url="", output_prefix="gs://b/s"), gpu_target(), "--qdrant-url"),
    (Job(inputs=("gs://b/v",), subscription=SUBSCRIPTION, qdrant_url=QDRANT, output_prefix="gs://b/s"), gpu_target(),
     "not both"),
    (Job(subscription="sceneline-uploads", qdrant_url=QDRANT, output_prefix="gs://b/s"), gpu_target(),
     "projects/PROJECT/subscriptions/NAME"),
    (batch_job(), DataflowTarget(project="p", region="r", bucket="gs://b"), "--image"),
    (batch_job(), DataflowTarget(project="p", region="r", bucket="/tmp/b", image=IMAGE), "gs://BUCKET"),
    (batch_job(), gpu_target(gpu_sharing="mps", gpu_count=2), "one GPU"),
])
def test_settings_that_cannot_work_are_refused_before_anything_is_submitted(job, target, message):
    with pytest.raises(LaunchError, match=message.replace("(", r"\(")):
        dataflow_plan(job, target)


def test_flink_through_the_job_server_uses_the_worker_pool_beside_each_task_manager():
    job = Job(inputs=("gs://media/v",), qdrant_url=QDRANT, output_prefix="gs://work/sceneline")
    plan = flink_plan(job, FlinkTarget(job_endpoint="beam-job-server:8099", parallelism=4, gpu=True))
    options = plan.options()
    assert plan.unknown_flags() == []
    assert options["runner"] == "PortableRunner" and options["job_endpoint"] == "beam-job-server:8099"
    assert options["environment_type"] == "EXTERNAL" and options["environment_config"] == "localhost:50000"
    assert options["parallelism"] == 4
    assert (options["model_device"], options["hwaccel"]) == ("cuda", "cuda")


def test_flink_session_cluster_over_rest_sends_one_jar_and_checkpoints_streams():
    job = Job(subscription=SUBSCRIPTION, qdrant_url=QDRANT, output_prefix="gs://work/sceneline")
    plan = flink_plan(job, FlinkTarget(flink_master="flink-jobmanager:8081", environment="docker", image=IMAGE))
    options = plan.options()
    assert options["runner"] == "FlinkRunner" and options["flink_master"] == "flink-jobmanager:8081"
    assert options["flink_version"] == launch.FLINK_VERSION and options["flink_submit_uber_jar"] is True
    assert options["environment_type"] == "DOCKER" and options["environment_config"] == IMAGE
    assert options["streaming"] is True and "--checkpointing_interval=60000" in plan.argv
    assert "model_device" not in options  # CPU task managers unless --gpu
    with pytest.raises(LaunchError, match="exactly one"):
        flink_plan(job, FlinkTarget(job_endpoint="a:8099", flink_master="b:8081"))
    with pytest.raises(LaunchError, match="--image"):
        flink_plan(job, FlinkTarget(flink_master="b:8081", environment="docker"))


def test_flex_template_never_waits_and_picks_the_pipeline_from_its_parameters():
    pipeline, argv = flex_template_argv(["--input=gs://b/v", f"--qdrant_url={QDRANT}"])
    assert pipeline == launch.BATCH_PIPELINE and argv[-1] == "--no_wait_until_finish"
    pipeline, argv = flex_template_argv([f"--subscription={SUBSCRIPTION}", f"--qdrant_url={QDRANT}"])
    assert pipeline == launch.STREAM_PIPELINE and "--streaming" in argv


def test_a_launcher_only_skips_waiting_for_workers_on_other_machines():
    from apache_beam.options.pipeline_options import PipelineOptions

    assert not must_wait(PipelineOptions(["--runner=DataflowRunner", "--no_wait_until_finish"]))
    assert must_wait(PipelineOptions(["--runner=DataflowRunner"]))
    # A local cluster reaches the folder through this process: it must stay until the end.
    assert must_wait(PipelineOptions(["--runner=DaskRunner", "--no_wait_until_finish"]))


@pytest.mark.parametrize("flags, local", [
    ([], True),  # a cluster started for the run
    (["--dask_client_address=tcp://127.0.0.1:8786"], True),
    (["--dask_client_address=localhost:8786"], True),
    (["--dask_client_address=tcp://10.1.2.3:8786"], False),  # its workers cannot reach our loopback
    (["--dask_scheduler_file=/shared/scheduler.json"], False),
])
def test_a_local_folder_is_served_only_to_dask_workers_on_this_machine(flags, local):
    from apache_beam.options.pipeline_options import PipelineOptions

    from sceneline.pipelines.options import workers_on_this_machine

    assert workers_on_this_machine(PipelineOptions(["--runner=DaskRunner", *flags])) is local


CLI_ARGS = ["launch", "dataflow", "gs://media-bucket/videos/", "--project", "proj-1", "--region", "us-central1",
            "--bucket", "gs://work-bucket", "--image", IMAGE, "--qdrant-url", QDRANT, "--job-name", "sceneline-test",
            "--beam-arg", "number_of_worker_harness_threads=4"]


def test_launch_command_prints_the_plan_as_data():
    result = CliRunner().invoke(app, CLI_ARGS + ["--dry-run"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    expected = dataflow_plan(batch_job(extra=("--number_of_worker_harness_threads=4",)), gpu_target())
    assert printed["argv"] == expected.argv
    assert printed["options"]["number_of_worker_harness_threads"] == 4  # Beam flags pass through


def test_launch_command_hands_the_plan_to_the_pipeline_run(monkeypatch):
    # Stands in for batch_index.run: submitting to Dataflow needs Google Cloud, not reachable here.
    handed = []
    monkeypatch.setattr(batch_index, "run", lambda argv: handed.append(argv))
    monkeypatch.setattr(launch_cli, "require_cloud_credentials", lambda what: None)  # likewise
    result = CliRunner().invoke(app, CLI_ARGS + ["--detach"])
    assert result.exit_code == 0, result.output
    assert handed == [dataflow_plan(batch_job(detach=True, extra=("--number_of_worker_harness_threads=4",)),
                                    gpu_target()).argv]
    assert "--no_wait_until_finish" in handed[0]


def test_launch_command_explains_what_is_missing():
    result = CliRunner().invoke(app, [a for a in CLI_ARGS if a != "--qdrant-url" and a != QDRANT] + ["--dry-run"],
                                env={"SCENELINE_QDRANT_URL": ""})
    assert result.exit_code == 2 and "--qdrant-url" in result.output


def test_flink_command_prints_its_plan_with_the_shared_options():
    result = CliRunner().invoke(app, [
        "launch", "flink", "gs://media/v", "--job-endpoint", "localhost:8099", "--output-prefix", "gs://work/s",
        "--qdrant-url", QDRANT, "--collection", "media", "--gpu", "--dry-run"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    job = Job(inputs=("gs://media/v",), qdrant_url=QDRANT, output_prefix="gs://work/s", collection="media")
    assert printed["argv"] == flink_plan(job, FlinkTarget(job_endpoint="localhost:8099", gpu=True)).argv
