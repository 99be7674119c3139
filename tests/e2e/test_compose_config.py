"""The compose stack of seed 002 (compose/), checked without a Docker engine.

`docker-compose config` (Debian's docker-compose) validates and resolves
compose/docker-compose.yml; the tests then assert the services, the seed's environment, the
volumes, the RabbitMQ port 5673, the MinIO init steps and the image's ENTRYPOINT. The image's
build stage is exercised by running compose/build-steps.sh (the script the Dockerfile runs)
on this machine. Without docker-compose the module exits with status 77 (skipped).
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.no_stack  # docker-compose config + build steps only

yaml = pytest.importorskip("yaml")

SRC = os.environ.get("CELERIAC_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
COMPOSE_DIR = os.path.join(SRC, "compose")
COMPOSE = os.path.join(COMPOSE_DIR, "docker-compose.yml")
DC = shutil.which("docker-compose")
if DC is None:
    print("SKIPPED: docker-compose is not installed (apt-get install docker-compose)",
          file=sys.stderr)
    pytest.exit("docker-compose absent", returncode=77)

# Seed 002, "Environment Variables": the values every celeriac container gets.
SEED_ENV = {
    "POSTGRES_USER": "dataset", "POSTGRES_PASSWORD": "dataset", "POSTGRES_HOST": "postgres",
    "POSTGRES_PORT": "5432", "POSTGRES_DB": "dataset",
    "RABBITMQ_USER": "dataset", "RABBITMQ_PASSWORD": "dataset", "RABBITMQ_HOST": "rabbitmq",
    "RABBITMQ_PORT": "5673", "RABBITMQ_VHOST": "/",
    "S3_SCHEME": "http", "S3_HOST": "minio", "S3_PORT": "9000", "S3_ACCESS_KEY": "minio",
    "S3_SECRET_KEY": "minio123", "S3_BUCKET_UPLOADS": "uploads", "S3_BUCKET_REPORTS": "reports",
}


@pytest.fixture(scope="module")
def cfg():
    # Host-port overrides must not leak in from the caller's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERIAC_COMPOSE_")}
    proc = subprocess.run([DC, "-f", COMPOSE, "config"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def env_of(service):
    e = service.get("environment", {})
    if isinstance(e, list):
        e = dict(item.split("=", 1) for item in e)
    return {k: str(v) for k, v in e.items()}


def ports_of(service):
    return {(int(p["published"]), int(p["target"])) for p in service.get("ports", [])}


def test_services_and_volumes(cfg):
    assert set(cfg["services"]) == {"postgres", "rabbitmq", "minio", "minio-init", "migrate",
                                    "worker"}
    assert set(cfg["volumes"]) == {"postgres-data", "minio-data"}
    s = cfg["services"]
    assert any(v.startswith("postgres-data:/var/lib/postgresql/data")
               for v in s["postgres"]["volumes"])
    assert any(v.startswith("minio-data:/data") for v in s["minio"]["volumes"])


def test_celeriac_services_get_the_seed_environment(cfg):
    for name in ("worker", "migrate", "minio-init"):
        assert env_of(cfg["services"][name]) == SEED_ENV, name
    pg = env_of(cfg["services"]["postgres"])
    assert {k: pg[k] for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")} == {
        "POSTGRES_USER": "dataset", "POSTGRES_PASSWORD": "dataset", "POSTGRES_DB": "dataset"}
    rmq = env_of(cfg["services"]["rabbitmq"])
    assert (rmq["RABBITMQ_DEFAULT_USER"], rmq["RABBITMQ_DEFAULT_PASS"]) == ("dataset", "dataset")
    minio = env_of(cfg["services"]["minio"])
    assert (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]) == ("minio", "minio123")


def test_worker_and_migrate_use_the_image(cfg):
    w, m = cfg["services"]["worker"], cfg["services"]["migrate"]
    for svc in (w, m):
        assert svc["build"]["dockerfile"] == "compose/Dockerfile"
        assert os.path.realpath(svc["build"]["context"]) == os.path.realpath(SRC)
        assert svc["image"] == "celeriac:local"
    assert m["command"] == ["migrate"]
    assert m["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert w["command"][:3] == ["worker", "-Q", "celery"]
    assert w["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert w["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert w["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert "entrypoint" not in w  # the image's ENTRYPOINT is the binary


def test_rabbitmq_management_on_5673(cfg):
    r = cfg["services"]["rabbitmq"]
    assert "management" in r["image"]
    assert (5673, 5673) in ports_of(r) and (15672, 15672) in ports_of(r)
    mounts = [v for v in r["volumes"] if v.endswith(":/etc/rabbitmq/conf.d/20-celeriac.conf:ro")]
    assert len(mounts) == 1
    conf = open(os.path.join(COMPOSE_DIR, "rabbitmq", "20-celeriac.conf")).read()
    assert re.search(r"^listeners\.tcp\.default\s*=\s*5673\s*$", conf, re.M)
    assert "rabbitmq-diagnostics" in " ".join(r["healthcheck"]["test"])


def test_minio_init_buckets_and_notifications(cfg):
    s = cfg["services"]
    assert (9000, 9000) in ports_of(s["minio"]) and (9001, 9001) in ports_of(s["minio"])
    init = s["minio-init"]
    assert "mc" in init["image"]
    assert init["entrypoint"] == ["/bin/sh", "/minio-init.sh"]
    assert any(v.endswith(":/minio-init.sh:ro") for v in init["volumes"])
    assert init["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    script = open(os.path.join(COMPOSE_DIR, "minio-init.sh")).read()
    assert 'mc mb --ignore-existing "local/$S3_BUCKET_UPLOADS" "local/$S3_BUCKET_REPORTS"' in script
    assert "notify_amqp:$TARGET" in script
    for piece in ("exchange_type=direct", "durable=on", "delivery_mode=2",
                  "${CELERIAC_S3_EVENTS_EXCHANGE:-celeriac.s3events}",
                  "${CELERIAC_S3_EVENTS_ROUTING_KEY:-s3.events}",
                  '$RABBITMQ_HOST:$RABBITMQ_PORT"',
                  'mc event add "local/$S3_BUCKET_UPLOADS" "$ARN" --event put'):
        assert piece in script, piece
    assert subprocess.run(["sh", "-n", os.path.join(COMPOSE_DIR, "minio-init.sh")]).returncode == 0


def dockerfile():
    text = open(os.path.join(COMPOSE_DIR, "Dockerfile")).read()
    return text, re.split(r"^FROM ", text, flags=re.M)[1:]


def test_dockerfile_is_multistage_with_binary_entrypoint():
    text, stages = dockerfile()
    assert len(stages) == 2
    build, runtime = stages
    assert build.startswith("debian:${DEBIAN_RELEASE} AS build")
    assert re.search(r"^ARG DEBIAN_RELEASE=bookworm$", text, re.M)
    assert "compose/build-steps.sh" in build
    assert runtime.startswith("debian:${DEBIAN_RELEASE}")
    assert "COPY --from=build /out/ /" in runtime
    assert re.search(r'^ENTRYPOINT \["celeriac"\]$', runtime, re.M)
    assert re.search(r'^CMD \["worker", ', runtime, re.M)
    runtime_deps = re.search(r'^ARG RUNTIME_DEPS="(.*)"$', text, re.M).group(1).split()
    assert not [p for p in runtime_deps if p.endswith("-dev")]
    assert "${RUNTIME_DEPS}" in runtime and "${BUILD_DEPS}" not in runtime


def test_image_build_steps_run_here(tmp_path):
    """compose/build-steps.sh = the Dockerfile's build stage: Release build, staged layout,
    runtime library check against RUNTIME_DEPS."""
    text, _ = dockerfile()
    deps = re.search(r'^ARG BUILD_DEPS="(.*)"$', text, re.M).group(1).split()
    missing = [p for p in deps if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout
        != "install ok installed"]
    if missing:
        pytest.skip(f"build dependencies not installed: {' '.join(missing)}")
    out = tmp_path / "root"
    proc = subprocess.run([os.path.join(COMPOSE_DIR, "build-steps.sh"), "--src", SRC,
                           "--build", str(tmp_path / "build"), "--out", str(out)],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert (out / "usr/local/bin/celeriac").exists()
    sql = sorted(p.name for p in (out / "usr/share/celeriac/migrations").iterdir())
    assert "0002_datasets.sql" in sql
    v = subprocess.run([str(out / "usr/local/bin/celeriac"), "--version"], capture_output=True,
                       text=True)
    assert v.returncode == 0 and v.stdout.startswith("celeriac ")
