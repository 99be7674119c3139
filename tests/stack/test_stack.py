"""tests/stack/test_stack.py: self-test of the local test stack (not of celeriac).

Checks that each service started by tests/stack/up works the way the real tests rely on:
RabbitMQ via kombu with the exported URL (vhost "/" spelled "//"), the management API,
PostgreSQL via DATABASE_URL, the S3 emulator with SigV4 (a wrong secret and an unsigned
request are refused), suffix ranges, MinIO-shaped events in the durable queue, and that
`tests/stack/ctl rabbitmq restart` keeps durable queues and persistent messages.

Run: eval "$(tests/stack/up)" && python3 -m pytest -q -p no:cacheprovider tests/stack/test_stack.py
Every test is skipped when the stack's variables are absent. Objects go to a bucket of its
own and its events are removed from s3.events at the end, so running this next to real tests
on a shared stack does not feed them foreign events. Not checked here: celeriac itself.
"""

import base64
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import pytest

REQUIRED = [
    "CELERY_BROKER_URL",
    "DATABASE_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "CELERIAC_MANAGEMENT_URL",
]
missing = [v for v in REQUIRED if not os.environ.get(v)]
pytestmark = pytest.mark.skipif(
    bool(missing), reason=f"stack environment absent ({', '.join(missing)}); run tests/stack/up"
)

HERE = os.path.dirname(os.path.abspath(__file__))
EVENTS_QUEUE = os.environ.get("CELERIAC_S3_EVENTS_QUEUE", "s3.events")
EVENTS_EXCHANGE = os.environ.get("CELERIAC_S3_EVENTS_EXCHANGE", "celeriac.s3events")
EVENTS_ROUTING_KEY = os.environ.get("CELERIAC_S3_EVENTS_ROUTING_KEY", "s3.events")
# A bucket of its own, so the objects and events of this self-test never meet real tests.
SELFTEST_BUCKET = "celeriac-selftest"
EVENTS_ON = os.environ.get("CELERIAC_S3_EVENTS_PUBLISH", "1") != "0"


def mgmt(method, path, body=None):
    """Call the RabbitMQ management HTTP API; returns (status, parsed JSON or None)."""
    u = urllib.parse.urlsplit(os.environ["CELERIAC_MANAGEMENT_URL"])
    base = f"{u.scheme}://{u.hostname}:{u.port}"
    req = urllib.request.Request(base + path, method=method)
    cred = f"{urllib.parse.unquote(u.username)}:{urllib.parse.unquote(u.password)}"
    req.add_header("Authorization", "Basic " + base64.b64encode(cred.encode()).decode())
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, data=data, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        return e.code, None


def s3_client(secret=None):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret or os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ["AWS_REGION"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def test_kombu_connects_with_exported_url():
    import kombu

    with kombu.Connection(os.environ["CELERY_BROKER_URL"]) as conn:
        conn.connect()
        assert conn.connected
        assert conn.transport_cls in ("amqp", "pyamqp") or conn.transport.driver_type == "amqp"
        # "//" in the URL is kombu's spelling of vhost "/".
        assert conn.virtual_host == "/"


def test_management_api():
    status, overview = mgmt("GET", "/api/overview")
    assert status == 200
    assert overview["rabbitmq_version"].startswith("3.")
    status, whoami = mgmt("GET", "/api/whoami")
    assert status == 200 and "administrator" in str(whoami["tags"])


def test_postgres():
    import psycopg2

    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn:
        with conn.cursor() as cur:
            cur.execute("select current_user, current_database(), 1")
            assert cur.fetchone() == ("celeriac", "celeriac", 1)
    conn.close()


def test_s3_sigv4_roundtrip_and_rejections(bucket):
    import botocore

    s3 = s3_client()
    key = f"{uuid.uuid4().hex}/a b+c.csv"
    body = b"id,name\n1,alpha\n2,beta\n"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    # Suffix range = last N bytes (RFC 9110 14.1.2); plain s3rver gets this wrong.
    r = s3.get_object(Bucket=bucket, Key=key, Range="bytes=-5")
    assert r["Body"].read() == body[-5:]
    assert r["ContentRange"] == f"bytes {len(body) - 5}-{len(body) - 1}/{len(body)}"
    r = s3.get_object(Bucket=bucket, Key=key, Range="bytes=3-6")
    assert r["Body"].read() == body[3:7]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key.rsplit("/", 1)[0] + "/")
    assert [o["Key"] for o in listed["Contents"]] == [key]
    # A wrong secret must be refused: the emulator verifies SigV4 signatures.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3_client(secret="not-the-secret").get_object(Bucket=bucket, Key=key)
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    # Unsigned requests are refused too.
    url = f"{os.environ['AWS_ENDPOINT_URL_S3']}/{bucket}/{urllib.parse.quote(key)}"
    with pytest.raises(urllib.error.HTTPError) as he:
        urllib.request.urlopen(url, timeout=10)
    assert he.value.code == 403
    # Paginated listing works (continuation tokens need the legacy OpenSSL provider).
    prefix = f"{uuid.uuid4().hex}/page/"
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"{prefix}{i}.txt", Body=b"x")
    p1 = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=2)
    assert p1["IsTruncated"]
    p2 = s3.list_objects_v2(
        Bucket=bucket, Prefix=prefix, MaxKeys=2, ContinuationToken=p1["NextContinuationToken"]
    )
    assert len(p1["Contents"]) + len(p2["Contents"]) == 3


def drain_selftest_events(conn):
    """Remove this self-test's events (bucket SELFTEST_BUCKET) from s3.events; every other
    message is left unacked and so returns to the queue when the channel closes."""
    if not EVENTS_QUEUE:
        return
    ch = conn.channel()
    mine = []
    for _ in range(10000):
        m = ch.basic_get(EVENTS_QUEUE, no_ack=False)
        if m is None:
            break
        try:
            key = json.loads(m.body).get("Key", "")
        except ValueError:
            key = ""
        if key.startswith(SELFTEST_BUCKET + "/"):
            mine.append(m.delivery_tag)
    for tag in mine:
        ch.basic_ack(tag)
    ch.close()


@pytest.fixture(scope="module", autouse=True)
def clean_events_afterwards():
    yield
    if missing or not EVENTS_ON:
        return
    import kombu

    time.sleep(1)  # let the publisher deliver the last events
    with kombu.Connection(os.environ["CELERY_BROKER_URL"]) as conn:
        conn.connect()
        drain_selftest_events(conn)


class EventProbe:
    """Observes S3 events through a private exclusive queue bound like s3.events, so other
    consumers of s3.events cannot take them away first."""

    def __init__(self):
        import kombu

        self.conn = kombu.Connection(os.environ["CELERY_BROKER_URL"])
        self.conn.connect()
        self.ch = self.conn.channel()
        ex = kombu.Exchange(EVENTS_EXCHANGE, type="direct", durable=True)
        self.queue = kombu.Queue(
            f"selftest.events.{uuid.uuid4().hex[:8]}",
            exchange=ex,
            routing_key=EVENTS_ROUTING_KEY,
            exclusive=True,
            auto_delete=True,
        )(self.ch)
        self.queue.declare()

    def wait(self, key, timeout=20):
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            m = self.queue.get(no_ack=True)
            if m is None:
                time.sleep(0.2)
                continue
            ev = json.loads(m.body)
            seen.append(ev.get("Key"))
            if ev.get("Key") == key:
                return m, ev
        raise AssertionError(f"no event for {key} within {timeout}s; saw {seen}")

    def close(self):
        self.conn.release()


@pytest.fixture
def bucket():
    s3 = s3_client()
    try:
        s3.create_bucket(Bucket=SELFTEST_BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    except s3.exceptions.BucketAlreadyExists:
        pass
    return SELFTEST_BUCKET


@pytest.mark.skipif(not EVENTS_ON, reason="event publishing is off")
def test_s3_upload_publishes_minio_shaped_event(bucket):
    probe = EventProbe()
    try:
        key = f"{uuid.uuid4().hex}/dir/a b+c.csv"
        s3_client().put_object(Bucket=bucket, Key=key, Body=b"x\n1\n")
        m, ev = probe.wait(f"{bucket}/{key}")
    finally:
        probe.close()
    assert ev["EventName"] == "s3:ObjectCreated:Put"
    rec = ev["Records"][0]
    assert rec["eventName"] == "s3:ObjectCreated:Put"
    assert rec["s3"]["bucket"]["name"] == bucket
    # Go url.QueryEscape, as MinIO: '/' -> %2F, ' ' -> '+', '+' -> %2B.
    assert rec["s3"]["object"]["key"] == urllib.parse.quote_plus(key, safe="")
    assert rec["s3"]["object"]["size"] == 4
    props = m.properties
    assert props["delivery_mode"] == 2
    assert props["content_type"] == "application/json"
    assert props["application_headers"]["minio-bucket"] == bucket
    assert props["application_headers"]["minio-event"] == "s3:ObjectCreated:Put"
    # The durable queue itself exists and is durable.
    status, info = mgmt("GET", "/api/queues/%2F/" + urllib.parse.quote(EVENTS_QUEUE, safe=""))
    assert status == 200 and info["durable"] is True


@pytest.mark.skipif(
    os.environ.get("CELERIAC_STACK_SELFTEST_RESTART", "1") == "0", reason="restart test disabled"
)
def test_rabbitmq_restart_keeps_durable_queue_messages(bucket):
    import kombu

    qname = f"selftest.durable.{uuid.uuid4().hex[:8]}"
    with kombu.Connection(os.environ["CELERY_BROKER_URL"]) as conn:
        q = kombu.Queue(qname, durable=True, auto_delete=False)
        producer = conn.Producer()
        producer.publish(
            {"n": 1}, routing_key=qname, declare=[q], delivery_mode=2, serializer="json"
        )
    subprocess.run([os.path.join(HERE, "ctl"), "rabbitmq", "restart"], check=True)
    try:
        with kombu.Connection(os.environ["CELERY_BROKER_URL"]) as conn:
            conn.connect()
            msg = kombu.Queue(qname, durable=True, auto_delete=False)(conn.default_channel).get()
            assert msg is not None and msg.payload == {"n": 1}
            msg.ack()
        # The S3 event publisher reconnects by itself after the broker restart.
        if EVENTS_ON:
            probe = EventProbe()
            try:
                key = f"{uuid.uuid4().hex}/after-restart.csv"
                s3_client().put_object(Bucket=bucket, Key=key, Body=b"y\n")
                probe.wait(f"{bucket}/{key}", timeout=30)
            finally:
                probe.close()
    finally:
        mgmt("DELETE", f"/api/queues/%2F/{qname}")
