"""Seen and steered like a Celery worker: the real `celery` CLI (inspect, control, status),
events through a kombu event receiver, canvas with a real Python worker, time limits and
/metrics — all against a running celeriac."""
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import pytest
from celery import Celery, chain, signature
from kombu import Connection

from conftest import effects, wait_for

BROKER = os.environ.get("CELERY_BROKER_URL", "")
HERE = os.path.dirname(os.path.abspath(__file__))


def celery_cli(*args, timeout=30):
    r = subprocess.run([sys.executable, "-m", "celery", "-b", BROKER, *args],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def node(w):
    return w.hostname.replace("%h", socket.gethostname())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_inspect_and_status(make_worker, celery_app):
    w = make_worker()
    n = node(w)
    rc, out = celery_cli("inspect", "ping", "-d", n)
    assert rc == 0 and f"{n}: OK" in out and "pong" in out, out
    r = celery_app.send_task("celeriac.test.sleep", kwargs={"seconds": 3}, queue=w.queues[0])
    w.wait_log(f"task.started task_id={r.id}")
    rc, out = celery_cli("inspect", "active", "-d", n)
    assert rc == 0 and r.id in out and "celeriac.test.sleep" in out, out
    rc, out = celery_cli("inspect", "registered", "-d", n)
    assert "celeriac.ping" in out and "dq.process_s3_object" in out
    rc, out = celery_cli("inspect", "active_queues", "-d", n)
    assert f"'name': '{w.queues[0]}'" in out, out
    r.get(timeout=10)
    celery_app.send_task("celeriac.ping", queue=w.queues[0]).get(timeout=10)
    rc, out = celery_cli("inspect", "stats", "-d", n, "--json")
    assert rc == 0, out
    import json
    stats = json.loads(out.strip().splitlines()[-1])[n]
    assert stats["total"] == {"celeriac.test.sleep": 1, "celeriac.ping": 1}
    assert stats["broker"]["transport"] == "amqp" and "password" not in stats["broker"]
    assert stats["pool"]["max-concurrency"] == 2 and len(stats["pool"]["processes"]) == 2
    rc, out = celery_cli("status")
    assert rc == 0 and n in out and "online" in out, out
    # commands the CLI doesn't offer, through the Python API (what Flower uses)
    reply = celery_app.control.broadcast("no_such_command", destination=[n], reply=True,
                                         timeout=5)
    assert "unknown or unsupported command" in reply[0][n]["error"]


def test_revoke_queued_task_never_runs(make_worker, celery_app, db):
    w = make_worker()
    n = node(w)
    marker = f"revoke-{uuid.uuid4().hex[:8]}"
    held = celery_app.send_task("celeriac.test.sleep", kwargs={"seconds": 0, "marker": marker},
                                queue=w.queues[0], countdown=3)
    w.wait_log(f"task.scheduled task_id={held.id}")
    rc, out = celery_cli("control", "revoke", held.id, "-d", n)
    assert rc == 0 and "revoked" in out, out
    from celery.exceptions import TaskRevokedError
    with pytest.raises(TaskRevokedError):
        held.get(timeout=10)
    # revoked before it even arrives
    future_id = str(uuid.uuid4())
    celery_cli("control", "revoke", future_id, "-d", n)
    r = celery_app.send_task("celeriac.test.sleep", kwargs={"seconds": 0, "marker": marker},
                             queue=w.queues[0], task_id=future_id)
    with pytest.raises(TaskRevokedError):
        r.get(timeout=10)
    time.sleep(3.5)
    assert effects(db, marker) == {}
    rc, out = celery_cli("inspect", "revoked", "-d", n)
    assert held.id in out and future_id in out


def test_revoke_terminate_kills_running_task(make_worker, celery_app):
    w = make_worker()
    r = celery_app.send_task("celeriac.test.sleep", kwargs={"seconds": 30}, queue=w.queues[0])
    w.wait_log(f"task.started task_id={r.id}")
    reply = celery_app.control.revoke(r.id, terminate=True, destination=[node(w)], reply=True,
                                      timeout=5)
    assert "terminate" in reply[0][node(w)]["ok"]
    from celery.exceptions import TaskRevokedError
    with pytest.raises(TaskRevokedError):
        r.get(timeout=10)
    assert celery_app.send_task("celeriac.ping", queue=w.queues[0]).get(timeout=10) == "pong"


def test_control_shutdown(make_worker):
    w = make_worker()
    celery_cli("control", "shutdown", "-d", node(w))
    assert w.proc.wait(timeout=30) == 0
    assert "control.shutdown" in w.log() and "worker.warm_shutdown" in w.log()


class EventLog:
    """Collects events for one hostname with a kombu event receiver (what `celery events`,
    Flower and celery.events.State use)."""

    def __init__(self, hostname):
        self.hostname = hostname
        self.events = []
        self.ready = threading.Event()
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()
        self.ready.wait(10)

    def run(self):
        app = Celery(broker=BROKER)
        with Connection(BROKER) as conn:
            recv = app.events.Receiver(conn, handlers={"*": self.on_event})
            self.ready.set()
            recv.capture(limit=None, timeout=None, wakeup=False)  # daemon thread: ends with us

    def on_event(self, ev):
        if ev.get("hostname") == self.hostname:
            self.events.append(ev)

    def for_task(self, tid):
        return [e["type"] for e in self.events if e.get("uuid") == tid]


def test_events(make_worker, celery_app):
    n = f"ev-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    evlog = EventLog(n)
    w = make_worker(extra_args=["-E"], name=n)
    q = w.queues[0]
    ok = celery_app.send_task("celeriac.test.add", args=[1, 2], queue=q)
    bad = celery_app.send_task("celeriac.test.fail", queue=q)
    flaky = celery_app.send_task("celeriac.test.flaky", kwargs={"fail_times": 1, "countdown": 0.2},
                                 queue=q)
    assert ok.get(timeout=10) == 3
    with pytest.raises(ValueError):
        bad.get(timeout=10)
    flaky.get(timeout=10)
    wait_for(lambda: any(e["type"] == "worker-heartbeat" for e in evlog.events), timeout=10,
             what="a worker-heartbeat")
    wait_for(lambda: "task-succeeded" in evlog.for_task(flaky.id), timeout=10)
    assert evlog.for_task(ok.id) == ["task-received", "task-started", "task-succeeded"]
    assert evlog.for_task(bad.id) == ["task-received", "task-started", "task-failed"]
    assert evlog.for_task(flaky.id) == ["task-received", "task-started", "task-retried",
                                        "task-received", "task-started", "task-succeeded"]
    types = [e["type"] for e in evlog.events]
    assert types[0] == "worker-online"
    for e in evlog.events:
        for k in ("hostname", "timestamp", "type", "clock", "pid", "utcoffset"):
            assert k in e, (k, e)
    succ = next(e for e in evlog.events if e.get("uuid") == ok.id and e["type"] == "task-succeeded")
    assert succ["result"] == "3" and succ["runtime"] >= 0
    rec = next(e for e in evlog.events if e.get("uuid") == ok.id and e["type"] == "task-received")
    # the producer's own argsrepr header (a list for send_task), as a Python worker sends it
    assert rec["name"] == "celeriac.test.add" and rec["args"] == "[1, 2]"
    failed = next(e for e in evlog.events if e.get("uuid") == bad.id and e["type"] == "task-failed")
    assert failed["exception"] == "ValueError('boom')"
    hb = next(e for e in evlog.events if e["type"] == "worker-heartbeat")
    assert hb["freq"] == 2.0 and "active" in hb and "processed" in hb
    # utcoffset follows Python's convention (time.timezone // 3600)
    assert hb["utcoffset"] == time.timezone // 3600
    w.stop()
    wait_for(lambda: "worker-offline" in [e["type"] for e in evlog.events], timeout=10)
    evlog.stop = True


@pytest.fixture
def python_worker(tmp_path):
    q = f"e2e-py-{uuid.uuid4().hex[:8]}"
    log = open(tmp_path / "pyworker.log", "wb")
    env = dict(os.environ, PYTHONPATH=HERE)
    p = subprocess.Popen([sys.executable, "-m", "celery", "-A", "pyworker_tasks", "worker", "-Q", q,
                          "-c", "1", "--pool", "solo", "-n", f"py-{uuid.uuid4().hex[:6]}@%h",
                          "--without-mingle", "--without-gossip", "-l", "info"],
                         env=env, stdout=log, stderr=log, cwd=HERE)
    wait_for(lambda: b"ready" in (tmp_path / "pyworker.log").read_bytes(), timeout=60,
             what="python worker ready")
    yield q
    p.terminate()
    p.wait(timeout=30)
    log.close()


def test_chain_across_python_and_celeriac(make_worker, celery_app, python_worker, db):
    w = make_worker()
    c = chain(signature("celeriac.test.add", args=(2, 3), queue=w.queues[0], app=celery_app),
              signature("py.double", queue=python_worker, app=celery_app),
              signature("celeriac.test.add", args=(1,), queue=w.queues[0], app=celery_app))
    res = c.apply_async()
    assert res.get(timeout=30) == 11          # (2 + 3) * 2 + 1
    assert res.parent.get(timeout=5) == 10
    assert "canvas.sent" in w.log()
    # link_error fires on failure (errback run by the Python worker)
    marker = f"errback-{uuid.uuid4().hex[:8]}"
    r = celery_app.send_task("celeriac.test.fail", queue=w.queues[0],
                             link_error=signature("py.record_error", args=(marker,),
                                                  queue=python_worker, app=celery_app))
    with pytest.raises(ValueError):
        r.get(timeout=10)
    wait_for(lambda: effects(db, marker) == {r.id: 1}, timeout=30, what="errback ran")
    # a failing first element fails the whole chain instead of hanging
    c2 = chain(signature("celeriac.test.fail", queue=w.queues[0], app=celery_app),
               signature("py.double", queue=python_worker, app=celery_app))
    with pytest.raises(ValueError):
        c2.apply_async().get(timeout=15)


def test_hard_time_limit(make_worker, celery_app):
    w = make_worker()
    from celery.exceptions import TimeLimitExceeded
    r = celery_app.send_task("celeriac.test.sleep", kwargs={"seconds": 30}, queue=w.queues[0],
                             time_limit=1)
    t0 = time.time()
    with pytest.raises(TimeLimitExceeded):
        r.get(timeout=20)
    assert time.time() - t0 < 10
    assert "task.time_limit_exceeded" in w.log()
    assert celery_app.send_task("celeriac.ping", queue=w.queues[0]).get(timeout=10) == "pong"


def test_metrics_endpoint(make_worker, celery_app):
    from prometheus_client.parser import text_string_to_metric_families
    port = free_port()
    w = make_worker(extra_args=["--metrics-port", str(port)])
    q = w.queues[0]
    for _ in range(3):
        celery_app.send_task("celeriac.ping", queue=q).get(timeout=10)
    with pytest.raises(ValueError):
        celery_app.send_task("celeriac.test.fail", queue=q).get(timeout=10)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    tasks = {(s.labels["task"], s.labels["outcome"]): s.value
             for s in fams["celeriac_tasks"].samples if s.name == "celeriac_tasks_total"}
    assert tasks[("celeriac.ping", "SUCCESS")] == 3
    assert tasks[("celeriac.test.fail", "FAILURE")] == 1
    counts = {s.labels["task"]: s.value for s in fams["celeriac_task_duration_seconds"].samples
              if s.name == "celeriac_task_duration_seconds_count"}
    assert counts["celeriac.ping"] == 3
    assert fams["celeriac_broker_connected"].samples[0].value == 1
    health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert health.status == 200


def test_remaining_control_commands(make_worker, celery_app):
    w = make_worker(concurrency=1)
    n = node(w)
    q = w.queues[0]
    ctl = celery_app.control
    insp = ctl.inspect(destination=[n], timeout=5)
    busy = celery_app.send_task("celeriac.test.sleep", kwargs={"seconds": 3}, queue=q)
    waiting = celery_app.send_task("celeriac.ping", queue=q)
    held = celery_app.send_task("celeriac.ping", queue=q, countdown=30)
    w.wait_log(f"task.started task_id={busy.id}")
    w.wait_log(f"task.scheduled task_id={held.id}")
    assert [r["id"] for r in insp.reserved()[n]] == [waiting.id]
    sched = insp.scheduled()[n]
    assert sched[0]["request"]["id"] == held.id and sched[0]["priority"] == 6
    qt = insp.query_task(busy.id, waiting.id)[n]
    assert qt[busy.id][0] == "active" and qt[waiting.id][0] == "reserved"
    assert insp.clock()[n]["clock"] > 0
    assert insp.conf()[n]["worker_concurrency"] == 1
    assert "enabled" in ctl.enable_events(destination=[n], reply=True, timeout=5)[0][n]["ok"]
    assert "disabled" in ctl.disable_events(destination=[n], reply=True, timeout=5)[0][n]["ok"]
    busy.get(timeout=10)
    waiting.get(timeout=10)
    # time_limit set remotely applies to the next run of that task
    r = ctl.time_limit("celeriac.test.sleep", soft=0.5, hard=1, destination=[n], reply=True,
                       timeout=5)
    assert "time limits set" in r[0][n]["ok"]
    from celery.exceptions import TimeLimitExceeded
    with pytest.raises(TimeLimitExceeded):
        celery_app.send_task("celeriac.test.sleep", kwargs={"seconds": 10}, queue=q).get(timeout=20)
    assert "error" in ctl.time_limit("no.such", hard=1, destination=[n], reply=True,
                                     timeout=5)[0][n]
    # add_consumer / cancel_consumer
    extra = f"e2e-extra-{uuid.uuid4().hex[:8]}"
    r = ctl.add_consumer(extra, destination=[n], reply=True, timeout=5)
    assert f"add consumer {extra}" in r[0][n]["ok"]
    assert celery_app.send_task("celeriac.ping", queue=extra).get(timeout=10) == "pong"
    names = [x["name"] for x in insp.active_queues()[n]]
    assert extra in names and q in names
    r = ctl.cancel_consumer(extra, destination=[n], reply=True, timeout=5)
    assert f"no longer consuming from {extra}" in r[0][n]["ok"]
    assert extra not in [x["name"] for x in insp.active_queues()[n]]
    ctl.revoke(held.id, destination=[n])
