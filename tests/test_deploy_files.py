"""Static checks of the deployment files in deploy/: the linters and schemas that can be had from
PyPI (hadolint, shellcheck, yamllint, kubernetes-validate, the compose spec, python-hcl2), plus
checks that the files agree with each other and with the code (ports, versions, flag names).

Not available here: docker (no image is built), kubectl/helm (no cluster), and `terraform`
itself (not on PyPI or Debian), so `terraform validate`/`fmt -check` are approximated by parsing
the HCL, resolving every reference, and checking the layout rules `terraform fmt` enforces."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import REPO_ROOT
from sceneline.pipelines import launch
from sceneline.pipelines.options import SceneLineOptions

DEPLOY = REPO_ROOT / "deploy"
SCHEMAS = Path(__file__).parent / "schemas"
K8S_VERSION = "1.30.0"


def tool(name: str) -> str:
    """A linter installed with the test extra (next to this Python, or on PATH)."""
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: install the test extra (pip install -e '.[test]')")
    return found


def load_yaml_docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def sceneline_flags() -> dict[str, argparse.Action]:
    parser = argparse.ArgumentParser()
    SceneLineOptions._add_argparse_args(parser)
    return {a.dest: a for a in parser._actions if a.dest != "help"}


# ---- YAML, everywhere -----------------------------------------------------------------------
def test_every_yaml_file_passes_yamllint():
    files = sorted(str(p) for p in DEPLOY.rglob("*.yaml"))
    assert len(files) >= 6
    config = "{extends: default, rules: {line-length: {max: 120}, document-start: disable}}"
    done = subprocess.run([tool("yamllint"), "-f", "parsable", "-d", config, *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout  # duplicate keys, bad indentation, syntax errors ...


# ---- Dataflow: worker image and Flex Template ------------------------------------------------
def test_dockerfile_passes_hadolint():
    done = subprocess.run([tool("hadolint"), "--failure-threshold", "info", "--no-color",
                           str(DEPLOY / "dataflow" / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_worker_image_is_a_cuda_image_that_boots_beam_workers_and_launches_templates():
    from dockerfile_parse import DockerfileParser

    dockerfile = DockerfileParser(str(DEPLOY / "dataflow" / "Dockerfile"))
    assert dockerfile.baseimage.startswith("nvidia/cuda:")
    steps = [(i["instruction"], i["value"]) for i in dockerfile.structure]
    assert steps[-1] == ("ENTRYPOINT", '["/opt/apache/beam/boot"]')  # Dataflow and Flink start workers so
    copies = [v for k, v in steps if k == "COPY"]
    assert "--from=beam_sdk /opt/apache/beam /opt/apache/beam" in copies
    env = dockerfile.envs
    assert "video" in env["NVIDIA_DRIVER_CAPABILITIES"].split(",")  # NVDEC needs the driver's video libraries
    assert env["FLEX_TEMPLATE_PYTHON_PY_FILE"] == "/opt/sceneline/flex_main.py"
    # The SDK image and the template launcher are for the same Python as the one installed.
    args = dict(a.split("=", 1) for k, a in steps if k == "ARG" and "=" in a)
    python = args["PYTHON_VERSION"]
    launcher = next(v for k, v in steps if k == "FROM" and "template-launcher" in v)
    assert f"python{python.replace('.', '')}-template-launcher" in launcher
    assert args["BEAM_VERSION"] == __import__("apache_beam").__version__


def test_worker_image_copies_only_what_exists_and_the_ignore_file_lets_through():
    from dockerfile_parse import DockerfileParser

    dockerfile = DockerfileParser(str(DEPLOY / "dataflow" / "Dockerfile"))
    allowed = [line[1:].rstrip("/") for line in (DEPLOY / "dataflow" / "Dockerfile.dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for step in dockerfile.structure:
        if step["instruction"] != "COPY" or step["value"].startswith("--from"):
            continue
        *sources, _dest = step["value"].split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), source
            assert any(source == a or source.startswith(a + "/") for a in allowed), f"{source} is ignored"
    # the entry point the image names runs the launch code
    assert "flex_template_main" in (DEPLOY / "dataflow" / "flex_main.py").read_text()


def test_flex_template_metadata_names_every_pipeline_parameter():
    metadata = json.loads((DEPLOY / "dataflow" / "metadata.json").read_text())
    jsonschema.validate(metadata, json.loads((SCHEMAS / "flex_template_metadata.schema.json").read_text()),
                        format_checker=jsonschema.FormatChecker())
    params = {p["name"]: p for p in metadata["parameters"]}
    flags = sceneline_flags()
    # Local-only knobs (a folder on this machine, a local dask cluster, the local stream's own
    # Pub/Sub leases) and bare switches (a template passes name=value) have no place in a
    # template; everything else must be there.
    local_only = {"qdrant_path", "dask_workers", "max_leased_messages", "lease_extension_s"}
    switches = {name for name, action in flags.items() if action.nargs == 0}
    missing = set(flags) - local_only - switches - set(params)
    assert not missing, f"add these to deploy/dataflow/metadata.json: {sorted(missing)}"
    assert set(params) <= set(flags)  # no parameter the pipelines would not understand
    for name, param in params.items():
        for pattern in param.get("regexes", []):
            if "defaultValue" in param:
                assert re.fullmatch(pattern, param["defaultValue"]), name
    assert re.fullmatch(params["subscription"]["regexes"][0], "projects/p/subscriptions/s")
    assert not params["qdrant_url"].get("isOptional")  # Dataflow workers need a server


# ---- Flink on Kubernetes, and a plain session cluster ----------------------------------------
def flink_docs() -> dict[str, dict]:
    docs = {}
    for path in sorted((DEPLOY / "flink" / "kubernetes").glob("*.yaml")):
        for doc in load_yaml_docs(path):
            docs[f"{doc['kind']}/{doc['metadata']['name'] if 'metadata' in doc else path.stem}"] = doc
    return docs


def test_kubernetes_resources_validate_strictly():
    docs = flink_docs()
    builtin = [d for d in docs.values() if d["apiVersion"] not in ("flink.apache.org/v1beta1",
                                                                  "kustomize.config.k8s.io/v1beta1")]
    assert {d["kind"] for d in builtin} >= {"Deployment", "Service", "PersistentVolumeClaim", "ServiceAccount"}
    for doc in builtin:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_broken_resource_is_caught():
    deployment = json.loads(json.dumps(flink_docs()["Deployment/beam-job-server"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8099"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = 8099
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_flink_deployment_matches_its_schema_and_its_pod_templates_are_valid_pods():
    flink = flink_docs()["FlinkDeployment/sceneline-flink"]
    jsonschema.validate(flink, json.loads((SCHEMAS / "flinkdeployment.schema.json").read_text()))
    for template in (flink["spec"]["podTemplate"], flink["spec"]["taskManager"]["podTemplate"]):
        kubernetes_validate.validate(template, K8S_VERSION, strict=True)


def test_flink_pieces_agree_with_each_other_and_with_the_launch_options():
    docs = flink_docs()
    flink = docs["FlinkDeployment/sceneline-flink"]
    version = flink["spec"]["flinkVersion"].removeprefix("v").replace("_", ".")
    assert version == launch.FLINK_VERSION and flink["spec"]["image"].startswith(f"flink:{version}")
    job_server = docs["Deployment/beam-job-server"]["spec"]["template"]["spec"]
    container = job_server["containers"][0]
    assert f"beam_flink{version}_job_server:{__import__('apache_beam').__version__}" in container["image"]
    args = dict(a.lstrip("-").split("=", 1) for a in container["args"])
    assert args["flink-master"] == f"{flink['metadata']['name']}-rest:8081"  # the operator's REST service
    # The SDK worker pool sits beside every task manager, on the port the launch options name.
    pool = next(c for c in flink["spec"]["taskManager"]["podTemplate"]["spec"]["containers"]
                if c["name"] == "beam-worker-pool")
    assert pool["args"] == ["--worker_pool"]
    assert pool["ports"][0]["containerPort"] == int(launch.FLINK_WORKER_POOL.rsplit(":", 1)[1])
    # Staged artifacts: written by the job server, read by task managers, on one shared volume.
    mounts = {m["mountPath"] for m in flink["spec"]["podTemplate"]["spec"]["containers"][0]["volumeMounts"]}
    assert args["artifacts-dir"] in mounts
    assert docs["PersistentVolumeClaim/beam-artifacts"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert flink["spec"]["serviceAccount"] in {d["metadata"]["name"] for k, d in docs.items()
                                               if k.startswith("ServiceAccount/")}
    kustomization = docs["Kustomization/kustomization"]
    assert set(kustomization["resources"]) == {p.name for p in (DEPLOY / "flink" / "kubernetes").glob("*.yaml")
                                               if p.name != "kustomization.yaml"}


@pytest.mark.parametrize("compose", ["flink/session/docker-compose.yaml", "qdrant/docker-compose.yaml"])
def test_compose_files_follow_the_compose_spec(compose):
    schema_path = Path(__import__("check_jsonschema").__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    doc = yaml.safe_load((DEPLOY / compose).read_text())
    jsonschema.validate(doc, json.loads(schema_path.read_text()))


def test_session_cluster_worker_pool_shares_the_task_manager_network():
    services = yaml.safe_load((DEPLOY / "flink" / "session" / "docker-compose.yaml").read_text())["services"]
    assert services["worker-pool"]["network_mode"] == "service:taskmanager"  # so localhost:50000 reaches it
    assert services["worker-pool"]["command"] == ["--worker_pool"]
    assert services["jobmanager"]["image"].startswith(f"flink:{launch.FLINK_VERSION}")
    assert "--flink-master=jobmanager:8081" in services["job-server"]["command"]


def test_qdrant_helm_values_use_only_the_charts_keys():
    values = yaml.safe_load((DEPLOY / "qdrant" / "helm-values.yaml").read_text())
    # Top-level keys of Qdrant's chart (charts/qdrant/values.yaml in qdrant/qdrant-helm).
    chart_keys = {"replicaCount", "image", "imagePullSecrets", "nameOverride", "fullnameOverride", "args", "env",
                  "service", "ingress", "livenessProbe", "readinessProbe", "startupProbe", "additionalLabels",
                  "podAnnotations", "podLabels", "resources", "containerSecurityContext", "podSecurityContext",
                  "updateVolumeFsOwnership", "nodeSelector", "tolerations", "affinity", "topologySpreadConstraints",
                  "persistence", "snapshotRestoration", "config", "sidecarContainers", "updateConfigurationOnChange",
                  "metrics", "serviceAccount", "priorityClassName", "podDisruptionBudget", "apiKey",
                  "additionalVolumes", "additionalVolumeMounts"}
    assert set(values) <= chart_keys, set(values) - chart_keys
    compose = yaml.safe_load((DEPLOY / "qdrant" / "docker-compose.yaml").read_text())["services"]["qdrant"]
    assert compose["image"].endswith(values["image"]["tag"] + "}")  # both deploy the same server version


# ---- bucket notifications: gcloud script and Terraform module ---------------------------------
def test_setup_script_passes_shellcheck():
    done = subprocess.run([tool("shellcheck"), str(DEPLOY / "gcs" / "setup-notifications.sh")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def _unquote(value):
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def terraform() -> dict[str, dict]:
    import hcl2

    merged: dict[str, dict] = {}
    for path in sorted((DEPLOY / "gcs" / "terraform").glob("*.tf")):
        with path.open() as f:
            for block, entries in _unquote(hcl2.load(f)).items():
                for entry in entries if isinstance(entries, list) else [entries]:
                    for name, body in entry.items():
                        if isinstance(body, dict) and block in ("resource", "data"):
                            for label, inner in body.items():
                                merged.setdefault(block, {})[f"{name}.{label}"] = inner
                        else:
                            merged.setdefault(block, {})[name] = body
    return merged


def test_terraform_references_resolve():
    tf = terraform()
    text = "\n".join(p.read_text() for p in (DEPLOY / "gcs" / "terraform").glob("*.tf"))
    for var in set(re.findall(r"\bvar\.(\w+)", text)):
        assert var in tf["variable"], f"var.{var} is not declared"
    for kind, label in set(re.findall(r"(?<!data\.)\b(google_\w+)\.(\w+)\b", text)):
        assert f"{kind}.{label}" in tf["resource"], f"{kind}.{label} does not exist"
    for kind, label in set(re.findall(r"\bdata\.(google_\w+)\.(\w+)", text)):
        assert f"{kind}.{label}" in tf["data"], f"data.{kind}.{label} does not exist"
    for local in set(re.findall(r"\blocal\.(\w+)", text)):
        assert local in tf["locals"], f"local.{local} is not defined"


def test_terraform_wires_notifications_dead_letters_and_iam():
    res = terraform()["resource"]
    subscription = res["google_pubsub_subscription.uploads"]
    policy = subscription["dead_letter_policy"][0]
    assert policy["dead_letter_topic"] == "${google_pubsub_topic.dead_letter.id}"
    assert subscription["topic"] == "${google_pubsub_topic.uploads.id}"
    notification = res["google_storage_notification.uploads"]
    assert notification["payload_format"] == "JSON_API_V1"
    assert set(notification["event_types"]) == {"OBJECT_FINALIZE", "OBJECT_DELETE"}
    assert notification["topic"] == "${google_pubsub_topic.uploads.id}"
    # The bucket's service agent may publish before the notification exists.
    assert notification["depends_on"] == ["${google_pubsub_topic_iam_member.gcs_publishes_uploads}"]
    assert res["google_pubsub_topic_iam_member.gcs_publishes_uploads"]["role"] == "roles/pubsub.publisher"
    # Pub/Sub's service agent moves dead letters: publisher on that topic, subscriber on the source.
    assert res["google_pubsub_topic_iam_member.pubsub_publishes_dead_letters"]["topic"] == \
        "${google_pubsub_topic.dead_letter.id}"
    assert res["google_pubsub_subscription_iam_member.pubsub_forwards_dead_letters"]["role"] == "roles/pubsub.subscriber"
    assert "google_pubsub_subscription.dead_letter" in res  # failed messages are kept, not dropped


def test_terraform_files_keep_terraform_fmt_layout():
    # `terraform fmt` cannot run here; these are the rules of its layout that a text check can see.
    for path in (DEPLOY / "gcs" / "terraform").glob("*.tf"):
        lines = path.read_text().splitlines()
        assert path.read_text().endswith("\n") and not path.read_text().endswith("\n\n"), path.name
        for number, line in enumerate(lines, 1):
            where = f"{path.name}:{number}"
            assert "\t" not in line and line == line.rstrip(), where
            assert (len(line) - len(line.lstrip(" "))) % 2 == 0, where
        # consecutive `name = value` lines of one block align their equals signs
        group: list[str] = []
        for line in lines + [""]:
            if re.match(r"^\s*[\w-]+\s+=\s", line) and (not group or _indent(line) == _indent(group[0])):
                group.append(line)
                continue
            if len(group) > 1:
                assert len({g.index("=") for g in group}) == 1, f"{path.name}: unaligned {group}"
            group = [line] if re.match(r"^\s*[\w-]+\s+=\s", line) else []


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def test_script_and_terraform_create_the_same_names():
    script = (DEPLOY / "gcs" / "setup-notifications.sh").read_text()
    res = terraform()["resource"]
    default_name = terraform()["variable"]["name"]["default"]
    assert f'NAME="${{NAME:-{default_name}}}"' in script
    for key in ("google_pubsub_topic.dead_letter", "google_pubsub_subscription.uploads",
                "google_pubsub_subscription.dead_letter"):
        suffix = res[key]["name"].replace("${var.name}", "")
        assert f'"$NAME{suffix}"' in script, suffix


# ---- the API server (deploy/server) ----------------------------------------------------------
def test_server_dockerfile_passes_hadolint():
    done = subprocess.run([tool("hadolint"), "--failure-threshold", "warning", "--no-color",
                           str(DEPLOY / "server" / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_server_manifest_validates_and_agrees_with_the_serve_command():
    from typer.main import get_command

    from sceneline.pipelines.cli import app

    docs = {d["kind"]: d for d in load_yaml_docs(DEPLOY / "server" / "kubernetes.yaml")}
    assert set(docs) == {"Deployment", "Service"}  # no PersistentVolumeClaim: nothing to keep on a pod
    for doc in docs.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    serve = get_command(app).commands["serve"]
    known = {opt for p in serve.params for opt in p.opts}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    flags = dict(a.split("=", 1) for a in container["args"])
    assert set(flags) <= known, set(flags) - known  # every flag is one `sceneline serve` takes
    assert {e["name"] for e in container["env"]} <= {v for p in serve.params for v in ([p.envvar] if p.envvar else [])}
    assert container["ports"][0]["containerPort"] == int(flags["--port"])
    assert flags["--qdrant-url"].startswith("http")  # stateless index: a Qdrant server, never a local folder
    assert flags["--media-root"].startswith("gs://")  # uploads and multipart chunks in the bucket
    mount = container["volumeMounts"][0]["mountPath"]
    assert flags["--home"] == mount
    # Stateless (records in Qdrant, media in the bucket): several replicas, replaced one at a time,
    # with a scratch folder that dies with the pod.
    deployment = docs["Deployment"]["spec"]
    assert deployment["replicas"] >= 2 and deployment["strategy"]["type"] == "RollingUpdate"
    volumes = {v["name"]: v for v in deployment["template"]["spec"]["volumes"]}
    assert set(volumes[container["volumeMounts"][0]["name"]]) == {"name", "emptyDir"}
