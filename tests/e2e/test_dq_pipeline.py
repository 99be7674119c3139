"""dq.process_s3_object end to end (seed 000): a real Celery client, real S3 (SigV4-verifying
s3rver), real PostgreSQL with the migrations-mirror tables, real RabbitMQ.

Each test registers its own agency slug so rows never mix between tests.
"""
import json
import os
import subprocess
import threading
import time
import uuid

import boto3
import pytest
from kombu import Connection

from conftest import BIN, wait_for

BROKER = os.environ.get("CELERY_BROKER_URL", "")

SCHEMA = {
    "fields": [
        {"name": "id", "type": "integer", "constraints": {"required": True, "unique": True}},
        {"name": "email", "type": "string", "format": "email"},
        {"name": "amount", "type": "number", "constraints": {"required": True, "minimum": 0}},
        {"name": "country", "type": "string", "constraints": {"enum": ["US", "FR", "DE"]}},
        {"name": "day", "type": "date"},
    ]
}
GOOD = ("id,email,amount,country,day\n1,a@x.com,10.5,US,2026-01-01\n2,b@x.com,3,FR,2026-01-02\n"
        "3,c@x.com,7,DE,2026-01-03\n4,d@x.com,0,US,2026-01-04\n")


@pytest.fixture(scope="module")
def migrated():
    subprocess.run([BIN, "migrate"], check=True, capture_output=True, timeout=120)


@pytest.fixture
def s3():
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


class Monitored:
    """A monitoring file registered the way the Django app would."""

    def __init__(self, db, s3, file_name="data.csv", schema=SCHEMA):
        self.db, self.s3 = db, s3
        self.agency = f"ag-{uuid.uuid4().hex[:8]}"
        self.file_name = file_name
        with db.cursor() as cur:
            sid = None
            if schema is not None:
                cur.execute("""INSERT INTO reporting.monitoring_file_schema_definition
                               (name, definition, created_at, updated_at)
                               VALUES (%s, %s, now(), now()) RETURNING id""",
                            (self.agency, json.dumps(schema)))
                sid = cur.fetchone()[0]
            cur.execute("""INSERT INTO reporting.monitoring_file (file_name, agency_slug,
                           schema_definition_id) VALUES (%s, %s, %s) RETURNING id""",
                        (file_name, self.agency, sid))
            self.id = cur.fetchone()[0]

    def key(self, sub="2026/11/22"):
        return f"{self.agency}/{sub}/{self.file_name}"

    def upload(self, body, key=None):
        key = key or self.key()
        self.s3.put_object(Bucket="uploads", Key=key, Body=body.encode() if isinstance(body, str)
                           else body)
        return key

    def rows(self, table):
        with self.db.cursor() as cur:
            if table == "monitoring_file_run":
                cur.execute("SELECT * FROM reporting.monitoring_file_run WHERE "
                            "monitoring_file_id = %s", (self.id,))
            else:
                cur.execute(f"""SELECT t.* FROM reporting.{table} t JOIN
                                reporting.monitoring_file_run r ON r.id = t.monitoring_file_run_id
                                WHERE r.monitoring_file_id = %s""", (self.id,))
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def latest(self):
        with self.db.cursor() as cur:
            cur.execute("SELECT latest_data_quality_score FROM reporting.monitoring_file "
                        "WHERE id = %s", (self.id,))
            return cur.fetchone()[0]


def run(app, q, key, **kw):
    return app.send_task("dq.process_s3_object", args=["uploads", key], kwargs=kw,
                         queue=q).get(timeout=60)


def test_passing_file(make_worker, celery_app, db, s3, migrated):
    w = make_worker()
    m = Monitored(db, s3)
    key = m.upload(GOOD)
    res = run(celery_app, w.queues[0], key, event_time="2026-11-22T07:45:12Z")
    assert res["score"] == 100 and res["passed"] is True and res["parsed"] is True
    assert res["deductions"] == {"schema": 0, "format": 0, "completeness": 0, "bounds": 0,
                                 "uniqueness": 0}
    assert res["rows"] == 4 and res["format"] == "csv"
    (run_row,) = m.rows("monitoring_file_run")
    assert str(run_row["run_date"]) == "2026-11-22" and run_row["run_hour"] == 7
    assert run_row["file_size"] == len(GOOD)
    assert run_row["created_at"] is not None and run_row["updated_at"] is not None
    assert run_row["file_last_modified"] is not None
    assert res["monitoring_file_run_id"] == run_row["id"]
    (q,) = m.rows("monitoring_file_data_quality")
    assert q["score"] == 100 and q["passed"] is True
    assert set(q["metrics"]) >= {"schemaValidation", "formatParsing", "completeness",
                                 "boundsRange", "uniqueness"}
    for v in q["metrics"].values():
        assert v["passed"] is True and isinstance(v["details"], str)
    assert q["failed_validation_message"] is None
    assert m.rows("monitoring_file_failed_validation") == []
    (p,) = m.rows("monitoring_file_data_profile")
    assert set(p["profile_payload"]) >= {"statisticalSummary", "completenessOverview",
                                         "typeFormatIssues", "uniquenessOverview",
                                         "valueDistributions", "boundsAnomalies", "sampleData"}
    assert len(p["profile_payload"]["sampleData"]["rows"]) == 4
    assert m.latest() == 100
    assert f"monitoring_file_run_id={run_row['id']}" in w.log()
    assert f"bucket=uploads key={key}" in w.log()


# Each category failing alone, with the exact deduction (weight x failed / checks).
CASES = {
    # 5 declared fields, 'day' missing: exact fieldsMatch → positions 1..5, one fails → 40/5
    "schema": ("id,email,amount,country\n1,a@x.com,1,US\n", {"schema": 8}),
    # 5 fields present, 'day' has a non-date → 35 x 1/5
    "format": ("id,email,amount,country,day\n1,a@x.com,1,US,yesterday\n", {"format": 7}),
    # required: id and amount → amount missing in one row → 20 x 1/2
    "completeness": ("id,email,amount,country,day\n1,a@x.com,,US,2026-01-01\n"
                     "2,b@x.com,2,US,2026-01-01\n", {"completeness": 10}),
    # bounded fields: amount (minimum), country (enum) → one fails → 15 x 1/2
    "bounds": ("id,email,amount,country,day\n1,a@x.com,-1,US,2026-01-01\n", {"bounds": 7.5}),
    # unique keys: id → 10 x 1/1
    "uniqueness": ("id,email,amount,country,day\n1,a@x.com,1,US,2026-01-01\n"
                   "1,b@x.com,2,FR,2026-01-01\n", {"uniqueness": 10}),
}
METRIC = {"schema": "schemaValidation", "format": "formatParsing",
          "completeness": "completeness", "bounds": "boundsRange", "uniqueness": "uniqueness"}


@pytest.mark.parametrize("category", list(CASES))
def test_each_category_failing_alone(make_worker, celery_app, db, s3, migrated, category):
    w = make_worker()
    m = Monitored(db, s3)
    body, want = CASES[category]
    res = run(celery_app, w.queues[0], m.upload(body))
    expected = {"schema": 0, "format": 0, "completeness": 0, "bounds": 0, "uniqueness": 0}
    expected.update(want)
    assert res["deductions"] == expected
    total = sum(expected.values())
    assert res["score"] == round(100 - total)
    assert res["passed"] is (res["score"] >= 80)
    (q,) = m.rows("monitoring_file_data_quality")
    assert q["deductions"] == expected
    for cat, key in METRIC.items():
        assert q["metrics"][key]["passed"] is (cat != category), (cat, q["metrics"][key])
    assert q["failed_validation_message"].startswith(category)
    assert isinstance(q["failed_validation_rules"], list) and q["failed_validation_rules"]
    (f,) = m.rows("monitoring_file_failed_validation")
    assert f["rule_type"] == category
    assert f["monitoring_file_id"] == m.id
    for col in ("rule_name", "rule_path", "validated_field_names", "validated_values",
                "rule_parameters", "validated_message"):
        assert isinstance(f[col], str) and len(f[col]) <= 250
    assert f["validated_at"] is not None


def test_unparseable_file_is_a_stored_verdict(make_worker, celery_app, db, s3, migrated):
    w = make_worker()
    m = Monitored(db, s3)
    res = run(celery_app, w.queues[0], m.upload('id,email\n1,"never closed\n2,x\n'))
    assert res["parsed"] is False and res["passed"] is False
    assert res["deductions"] == {"schema": 0, "format": 35, "completeness": 0, "bounds": 0,
                                 "uniqueness": 0}
    assert res["score"] == 65
    (q,) = m.rows("monitoring_file_data_quality")
    assert q["metrics"]["formatParsing"]["passed"] is False
    assert q["metrics"]["formatParsing"]["parsed"] is False
    assert len(m.rows("monitoring_file_run")) == 1
    assert "task.succeeded" in w.log()


def test_varchar_fields_truncated_safely(make_worker, celery_app, db, s3, migrated):
    """A failing value far longer than 250 bytes, multi-byte: stored truncated on a UTF-8
    boundary (PostgreSQL would reject an invalid or over-long value)."""
    w = make_worker()
    long_name = "ü" * 400
    schema = {"fields": [{"name": "v", "type": "string", "constraints": {"maxLength": 3}}]}
    m = Monitored(db, s3, schema=schema)
    res = run(celery_app, w.queues[0], m.upload(f"v\n{long_name}\n"))
    assert res["deductions"]["bounds"] == 15
    (f,) = m.rows("monitoring_file_failed_validation")
    for col in ("validated_values", "validated_message", "rule_parameters"):
        assert len(f[col].encode()) <= 250 * 2 and len(f[col]) <= 250


def test_reprocessing_requeue_and_concurrency_leave_one_row(make_worker, celery_app, db, s3,
                                                            migrated, mgmt):
    m = Monitored(db, s3)
    key = m.upload(GOOD)
    q = f"e2e-{uuid.uuid4().hex[:10]}"
    # 1. a requeue from the management UI: the message is fetched with "Nack message requeue
    #    true" before any worker runs it, so the worker gets it back redelivered.
    with Connection(BROKER) as conn:
        conn.default_channel.queue_declare(q, durable=True, auto_delete=False)
    r0 = celery_app.send_task("dq.process_s3_object", args=["uploads", key], queue=q,
                              kwargs={"event_time": "2026-11-22T09:00:00Z"})
    wait_for(lambda: (mgmt.queue(q) or {}).get("messages", 0) >= 1, timeout=30,
             what="message visible in the management API")
    got = mgmt._req("POST", f"/queues/%2F/{q}/get", {"count": 1, "ackmode": "ack_requeue_true",
                                                     "encoding": "auto"})
    assert got and got[0]["redelivered"] is False
    w = make_worker(queues=[q])
    assert r0.get(timeout=60)["score"] == 100
    # 2. reprocessing the same object, with the web app's acknowledgment in between
    with db.cursor() as cur:
        cur.execute("""UPDATE reporting.monitoring_file_data_quality SET
                       acknowledgment_status = 'ACKNOWLEDGED', acknowledged_by_username = 'ana',
                       acknowledgment_notes = 'seen' WHERE monitoring_file_run_id = %s""",
                    (r0.get()["monitoring_file_run_id"],))
    again = run(celery_app, q, key, event_time="2026-11-22T09:30:00Z")
    assert again["monitoring_file_run_id"] == r0.get()["monitoring_file_run_id"]
    # 3. two concurrent deliveries of the same task
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        run(celery_app, q, key, event_time="2026-11-22T09:10:00Z"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert len(m.rows("monitoring_file_run")) == 1
    (qrow,) = m.rows("monitoring_file_data_quality")
    assert qrow["acknowledgment_status"] == "ACKNOWLEDGED"
    assert qrow["acknowledged_by_username"] == "ana" and qrow["acknowledgment_notes"] == "seen"
    assert len(m.rows("monitoring_file_data_profile")) == 1
    assert w.proc.poll() is None


def test_unknown_monitoring_file_and_missing_object_fail_without_retry(make_worker, celery_app,
                                                                       db, s3, migrated):
    w = make_worker()
    with pytest.raises(LookupError, match="no monitoring file"):
        run(celery_app, w.queues[0], f"nobody-{uuid.uuid4().hex[:6]}/x/file.csv")
    m = Monitored(db, s3)
    with pytest.raises(FileNotFoundError, match=r"uploads"):
        run(celery_app, w.queues[0], m.key("never/uploaded"))
    assert "task.retried" not in w.log()


def test_s3_event_notification_becomes_the_task(make_worker, db, s3, migrated):
    """A real upload to the SigV4-verifying S3 server, its MinIO-style AMQP notification on
    the stack's events queue, and celeriac turning it into dq.process_s3_object; the key has
    spaces, '+', '%', '=', '&' and non-ASCII characters, which arrive form-URL-encoded."""
    events_q = os.environ.get("CELERIAC_S3_EVENTS_QUEUE", "s3.events")
    w = make_worker(env={"CELERIAC_EVENTS_QUEUE": events_q})
    m = Monitored(db, s3, file_name="q3 report+final%=&ü.csv")
    key = m.upload(GOOD, key=f"{m.agency}/in box/{m.file_name}")
    wait_for(lambda: len(m.rows("monitoring_file_data_quality")) == 1, timeout=60,
             what="quality row from the S3 event")
    (qrow,) = m.rows("monitoring_file_data_quality")
    assert qrow["score"] == 100
    assert f"s3event.task_sent" in w.log()
    assert key in w.log()


def test_raw_notification_shapes(make_worker, db, s3, migrated, mgmt):
    """AWS Records and EventBridge shapes published to a private events queue; a malformed one
    is dead-lettered with its reason."""
    events_q = f"e2e-events-{uuid.uuid4().hex[:8]}"
    dlq = f"e2e-dlq-{uuid.uuid4().hex[:8]}"
    w = make_worker(env={"CELERIAC_EVENTS_QUEUE": events_q, "CELERIAC_DEAD_LETTER_QUEUE": dlq})
    m1, m2 = Monitored(db, s3), Monitored(db, s3)
    k1, k2 = m1.upload(GOOD), m2.upload(GOOD)
    aws = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                        "eventTime": "2026-11-22T05:00:00.000Z", "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": "uploads"},
                               "object": {"key": k1.replace(" ", "+"), "size": len(GOOD),
                                          "eTag": "x"}}},
                       {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "u"},
                                                                   "object": {"key": "k"}}}]}
    bridge = {"version": "0", "detail-type": "Object Created", "source": "aws.s3",
              "time": "2026-11-22T06:00:00Z",
              "detail": {"bucket": {"name": "uploads"}, "object": {"key": k2, "size": 1}}}
    with Connection(BROKER) as conn:
        p = conn.Producer()
        for body in (aws, bridge, {"neither": "shape"}):
            p.publish(body, routing_key=events_q, exchange="", serializer="json")
    wait_for(lambda: len(m1.rows("monitoring_file_run")) == 1 and
             len(m2.rows("monitoring_file_run")) == 1, timeout=60, what="both runs")
    assert m1.rows("monitoring_file_run")[0]["run_hour"] == 5
    assert m2.rows("monitoring_file_run")[0]["run_hour"] == 6
    got = []
    wait_for(lambda: got.extend(mgmt.get_messages(dlq) or []) or got, timeout=30,
             what="malformed notification dead-lettered")
    assert "not an S3 event notification" in got[0]["properties"]["headers"]["x-celeriac-reason"]
    assert "s3event.ignored" in w.log()
