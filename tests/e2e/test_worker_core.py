"""Worker core, end to end: a real Celery 5.2.6 client, a real RabbitMQ, a real celeriac.

Each test gets its own queue and dead-letter queue so tests don't see each other's messages.
"""
import datetime
import os
import pickle
import re
import signal
import subprocess
import time
import uuid

import pytest
from kombu import Connection

from conftest import SRC, effects, queue_depth, wait_for

BROKER = os.environ.get("CELERY_BROKER_URL", "")


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def dlq_env():
    name = uniq("e2e-dlq")
    return name, {"CELERIAC_DEAD_LETTER_QUEUE": name}


def dead_letters(mgmt, dlq, expect, timeout=20):
    got = []

    def poll():
        got.extend(mgmt.get_messages(dlq) or [])
        return len(got) >= expect
    wait_for(poll, timeout=timeout, what=f"{expect} messages in {dlq}")
    return got


# 2. ping with protocol 2 and protocol 1 --------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 1])
def test_ping_both_protocols(make_worker, celery_app, protocol):
    w = make_worker()
    celery_app.conf.task_protocol = protocol
    r = celery_app.send_task("celeriac.ping", queue=w.queues[0])
    assert r.get(timeout=10) == "pong"
    assert f"protocol={protocol}" in w.log()


def test_hybrid_message(make_worker):
    """v2 headers with a v1-style dict body (Celery's hybrid_to_proto2)."""
    w = make_worker()
    tid = str(uuid.uuid4())
    with Connection(BROKER) as conn:
        reply = conn.SimpleQueue(uniq("e2e-reply"), queue_opts={"auto_delete": True})
        conn.Producer().publish(
            {"args": [20, 22], "kwargs": {}}, routing_key=w.queues[0], exchange="",
            serializer="json", correlation_id=tid, reply_to=reply.queue.name,
            headers={"task": "celeriac.test.add", "id": tid, "lang": "py"})
        msg = reply.get(timeout=10)
        assert msg.payload["status"] == "SUCCESS" and msg.payload["result"] == 42
        assert msg.payload["task_id"] == tid
        assert msg.properties["correlation_id"] == tid
        msg.ack()
        reply.close()


# 3. failures, ignore_result, STARTED -----------------------------------------------------

def test_failure_raises_the_right_exception(make_worker, celery_app):
    w = make_worker()
    q = w.queues[0]
    with pytest.raises(KeyError) as ei:
        celery_app.send_task("celeriac.test.fail", kwargs={"exc_type": "KeyError",
                             "message": "missing"}, queue=q).get(timeout=10)
    assert ei.value.args == ("missing",)
    with pytest.raises(ValueError):
        celery_app.send_task("celeriac.test.fail", queue=q).get(timeout=10)
    from celery.exceptions import NotRegistered
    with pytest.raises(NotRegistered):
        celery_app.send_task("no.such.task", queue=q).get(timeout=10)
    # The traceback is a Python-style string.
    r = celery_app.send_task("celeriac.test.fail", queue=q)
    with pytest.raises(ValueError):
        r.get(timeout=10)
    assert r.traceback.startswith("Traceback (most recent call last):")


def test_ignore_result_publishes_nothing(make_worker):
    w = make_worker()
    with Connection(BROKER) as conn:
        reply = conn.SimpleQueue(uniq("e2e-reply"), queue_opts={"auto_delete": True})
        prod = conn.Producer()
        ids = []
        for ignore in (True, False):
            tid = str(uuid.uuid4())
            ids.append(tid)
            prod.publish([[], {}, None], routing_key=w.queues[0], exchange="", serializer="json",
                         correlation_id=tid, reply_to=reply.queue.name,
                         headers={"task": "celeriac.ping", "id": tid, "ignore_result": ignore})
        w.wait_log("task.succeeded", count=2)
        msg = reply.get(timeout=10)
        assert msg.payload["task_id"] == ids[1]  # only the one that wants its result
        msg.ack()
        with pytest.raises(reply.Empty):
            reply.get(timeout=1.5)
        reply.close()


def test_started_is_observable(make_worker, celery_app):
    w = make_worker(extra_args=["--track-started"])
    r = celery_app.send_task("celeriac.test.sleep", kwargs={"seconds": 1.5}, queue=w.queues[0])
    seen = wait_for(lambda: r.state == "STARTED" and r.info, timeout=10, what="STARTED")
    assert r.info["pid"] in w.children()
    assert r.info["hostname"].startswith("celeriac-test-")
    assert r.get(timeout=10)["slept"] == 1.5
    assert seen


# 4. poison messages -----------------------------------------------------------------------

def test_poison_messages_are_dead_lettered(make_worker, mgmt):
    dlq, env = dlq_env()
    w = make_worker(env=env)
    q = w.queues[0]
    with Connection(BROKER) as conn:
        prod = conn.Producer()
        reply = conn.SimpleQueue(uniq("e2e-reply"), queue_opts={"auto_delete": True})
        # bad JSON (v2 headers)
        prod.publish(b"[[1, 2], {", routing_key=q, exchange="", content_type="application/json",
                     content_encoding="utf-8", correlation_id="bad-json",
                     reply_to=reply.queue.name,
                     headers={"task": "celeriac.ping", "id": "bad-json"})
        # pickle: refused without unpickling
        prod.publish(pickle.dumps(([], {}, None)), routing_key=q, exchange="",
                     content_type="application/x-python-serialize", content_encoding="binary",
                     correlation_id="pickled", headers={"task": "celeriac.ping", "id": "pickled"})
        # unknown task
        prod.publish([[], {}, None], routing_key=q, exchange="", serializer="json",
                     correlation_id="unknown", headers={"task": "nope.nothing", "id": "unknown"})
        # missing id (and no correlation id)
        prod.publish([[], {}, None], routing_key=q, exchange="", serializer="json",
                     headers={"task": "celeriac.ping"})
        # not a task at all
        prod.publish({"hello": "world"}, routing_key=q, exchange="", serializer="json")
        msgs = dead_letters(mgmt, dlq, 5)
        reasons = {m["properties"].get("correlation_id"): m["properties"]["headers"]
                   for m in msgs}
        assert "not valid JSON" in reasons["bad-json"]["x-celeriac-reason"]
        assert reasons["bad-json"]["x-celeriac-error"] == "decode"
        assert "application/x-python-serialize" in reasons["pickled"]["x-celeriac-reason"]
        assert "unregistered task 'nope.nothing'" in reasons["unknown"]["x-celeriac-reason"]
        others = [m["properties"]["headers"]["x-celeriac-reason"] for m in msgs
                  if m["properties"].get("correlation_id") is None]
        assert any("no id" in r for r in others), others
        assert any("not a task message" in r for r in others), others
        for m in msgs:
            assert m["properties"]["headers"]["x-celeriac-original-routing-key"] == q
        # The bad-JSON message had a reply_to: the producer got a FAILURE it can raise.
        msg = reply.get(timeout=10)
        assert msg.payload["status"] == "FAILURE"
        assert msg.payload["result"]["exc_type"] == "DecodeError"
        msg.ack()
        reply.close()
    # The worker is alive and the next good message is processed.
    from celery import Celery
    app = Celery(broker=BROKER, backend="rpc://")
    assert app.send_task("celeriac.ping", queue=q).get(timeout=10) == "pong"
    app.close()
    for needle in ("task.rejected", "task.dead_lettered"):
        assert w.log().count(needle) >= 5
    assert w.proc.poll() is None


# 5. crash, broker restart, SIGTERM: nothing lost, nothing doubled --------------------------

def started_pid(w, task_id, timeout=20):
    m = wait_for(lambda: re.search(rf"task\.started task_id={task_id} \S+ pid=(\d+)", w.log()),
                 timeout=timeout, what=f"task {task_id} started")
    return int(m.group(1))


def test_child_killed_mid_task_is_redelivered_once(make_worker, celery_app, db, mgmt):
    w = make_worker()
    marker = uniq("kill9")
    r = celery_app.send_task("celeriac.test.sleep", kwargs={"seconds": 2, "marker": marker},
                             queue=w.queues[0])
    os.kill(started_pid(w, r.id), signal.SIGKILL)
    assert r.get(timeout=30)["slept"] == 2
    assert effects(db, marker) == {r.id: 1}
    assert "child.lost_task" in w.log() and "child.replaced" in w.log()
    wait_for(lambda: queue_depth(mgmt, w.queues[0]) == 0, timeout=30, what="queue drained")


def test_child_lost_twice_is_dead_lettered(make_worker, celery_app, mgmt):
    dlq, env = dlq_env()
    w = make_worker(env=env)
    from celery.exceptions import WorkerLostError
    r = celery_app.send_task("celeriac.test.crash", kwargs={"how": "kill"}, queue=w.queues[0])
    with pytest.raises(WorkerLostError):
        r.get(timeout=30)
    msgs = dead_letters(mgmt, dlq, 1)
    assert msgs[0]["properties"]["headers"]["x-celeriac-error"] == "worker_lost"
    assert w.log().count("child.lost_task") == 2
    # still serving
    assert celery_app.send_task("celeriac.ping", queue=w.queues[0]).get(timeout=10) == "pong"


def stack_ctl(*args):
    subprocess.run([os.path.join(SRC, "tests", "stack", "ctl"), *args], check=True,
                   stdout=subprocess.DEVNULL, timeout=180)


def test_broker_restart_loses_and_doubles_nothing(make_worker, db, mgmt):
    w = make_worker(concurrency=2)
    q = w.queues[0]
    marker = uniq("restart")
    from celery import Celery
    app = Celery(broker=BROKER, backend="rpc://")
    ids = [app.send_task("celeriac.test.sleep", kwargs={"seconds": 3, "marker": marker},
                         queue=q).id for _ in range(4)]
    app.close()
    started_pid(w, ids[0])
    stack_ctl("rabbitmq", "restart")
    w.wait_log("broker.connection_lost", timeout=30)
    wait_for(lambda: w.log().count("broker.connected") >= 2, timeout=90, what="reconnected")
    # every task ran to completion exactly once
    wait_for(lambda: len(effects(db, marker)) == 4, timeout=90, what="4 effects")
    time.sleep(4)  # let redeliveries of completed tasks arrive and be skipped
    assert effects(db, marker) == {i: 1 for i in ids}
    wait_for(lambda: queue_depth(mgmt, q) == 0, timeout=60, what="queue drained and acked")
    app = Celery(broker=BROKER, backend="rpc://")
    assert app.send_task("celeriac.ping", queue=q).get(timeout=20) == "pong"
    app.close()


def test_sigterm_finishes_running_task_then_exits(make_worker, db, mgmt, tmp_path):
    w = make_worker(concurrency=1)
    q = w.queues[0]
    marker = uniq("sigterm")
    from celery import Celery
    app = Celery(broker=BROKER, backend="rpc://")
    first = app.send_task("celeriac.test.sleep", kwargs={"seconds": 2, "marker": marker},
                          queue=q)
    second = app.send_task("celeriac.test.sleep", kwargs={"seconds": 0.1, "marker": marker},
                           queue=q)
    started_pid(w, first.id)
    rc = w.stop(signal.SIGTERM)
    assert rc == 0
    assert "worker.warm_shutdown" in w.log()
    assert first.get(timeout=10)["slept"] == 2          # finished and answered
    assert effects(db, marker) == {first.id: 1}         # second was handed back, not run
    wait_for(lambda: queue_depth(mgmt, q) == 1, timeout=30, what="second task requeued")
    w2 = make_worker(queues=[q])
    assert second.get(timeout=20)["slept"] == 0.1
    assert effects(db, marker) == {first.id: 1, second.id: 1}
    assert w2.proc.poll() is None
    app.close()


def test_cold_shutdown_requeues_running_task(make_worker, db):
    w = make_worker(concurrency=1)
    q = w.queues[0]
    marker = uniq("cold")
    from celery import Celery
    app = Celery(broker=BROKER, backend="rpc://")
    r = app.send_task("celeriac.test.sleep", kwargs={"seconds": 2, "marker": marker}, queue=q)
    started_pid(w, r.id)
    w.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    w.proc.send_signal(signal.SIGTERM)   # second SIGTERM: cold
    assert w.proc.wait(timeout=20) == 1
    assert "worker.cold_shutdown" in w.log()
    assert effects(db, marker) == {}
    make_worker(queues=[q])
    assert r.get(timeout=30)["slept"] == 2
    assert effects(db, marker) == {r.id: 1}
    app.close()


# 6. ETA, countdown, expires, retry -----------------------------------------------------

def test_countdown_and_eta(make_worker, celery_app):
    w = make_worker()
    q = w.queues[0]
    t0 = time.time()
    r = celery_app.send_task("celeriac.ping", queue=q, countdown=2)
    # While held, a later task is not blocked behind it.
    assert celery_app.send_task("celeriac.ping", queue=q).get(timeout=5) == "pong"
    assert time.time() - t0 < 2
    assert r.get(timeout=10) == "pong"
    assert time.time() - t0 >= 1.9
    eta = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=2))) + \
        datetime.timedelta(seconds=1.5)
    t0 = time.time()
    assert celery_app.send_task("celeriac.ping", queue=q, eta=eta).get(timeout=10) == "pong"
    assert time.time() - t0 >= 1.4
    assert "task.scheduled" in w.log()


def test_expires_revokes(make_worker, celery_app):
    w = make_worker()
    from celery.exceptions import TaskRevokedError
    # expired while waiting behind an ETA: the worker checks again before running it
    r = celery_app.send_task("celeriac.ping", queue=w.queues[0], countdown=2, expires=1)
    with pytest.raises(TaskRevokedError):
        r.get(timeout=10)
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    # an `expires` in the past in the header; no AMQP expiration so the broker delivers it
    tid = str(uuid.uuid4())
    with Connection(BROKER) as conn:
        reply = conn.SimpleQueue(uniq("e2e-reply"), queue_opts={"auto_delete": True})
        conn.Producer().publish([[], {}, None], routing_key=w.queues[0], exchange="",
                                serializer="json", correlation_id=tid,
                                reply_to=reply.queue.name,
                                headers={"task": "celeriac.ping", "id": tid,
                                         "expires": past.isoformat()})
        msg = reply.get(timeout=10)
        assert msg.payload["status"] == "REVOKED"
        assert msg.payload["result"]["exc_message"] == ["expired"]
        msg.ack()
        reply.close()


def test_retry_republishes_with_backoff_then_succeeds(make_worker, celery_app):
    w = make_worker()
    r = celery_app.send_task("celeriac.test.flaky", kwargs={"fail_times": 2, "countdown": 0.5},
                             queue=w.queues[0])
    t0 = time.time()
    assert r.get(timeout=20) == {"retries": 2}
    assert time.time() - t0 >= 0.9
    assert w.log().count(f"task.retried task_id={r.id}") == 2


def test_retry_gives_up_after_max_retries(make_worker, celery_app):
    w = make_worker()
    r = celery_app.send_task("celeriac.test.flaky", kwargs={"fail_times": 10, "countdown": 0.1},
                             queue=w.queues[0])
    with pytest.raises(ConnectionError):
        r.get(timeout=20)
    assert w.log().count(f"task.retried task_id={r.id}") == 3  # max_retries = 3


def test_heartbeats_are_served_while_a_task_runs(make_worker, celery_app):
    """A 2 s heartbeat and a task 4x longer: the broker would drop a connection that misses
    two heartbeats; the supervisor keeps serving them while the child works."""
    w = make_worker(extra_args=["--heartbeat", "2"], concurrency=1)
    r = celery_app.send_task("celeriac.test.sleep", kwargs={"seconds": 8}, queue=w.queues[0])
    assert r.get(timeout=30)["slept"] == 8
    assert "broker.connection_lost" not in w.log()
    assert w.log().count("broker.connected") == 1
