"""Tasks for a real Python Celery worker that shares chains with celeriac in the e2e tests."""
import os

import psycopg2
from celery import Celery

app = Celery("pyworker", broker=os.environ.get("CELERY_BROKER_URL"), backend="rpc://")


@app.task(name="py.double")
def double(x):
    return x * 2


@app.task(name="py.record_error")
def record_error(task_id, marker):
    """Old-style errback: called with the failed task's id (celeriac sends errbacks as tasks)."""
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO celeriac_test_effects (task_id, marker, executions) "
                    "VALUES (%s, %s, 1) ON CONFLICT (task_id) DO UPDATE SET "
                    "executions = celeriac_test_effects.executions + 1", (task_id, marker))
    conn.close()
    return task_id
