#!/usr/bin/python3
"""The platform's side of the data-quality pipeline, played with the real Python stack:
register a monitoring file and its schema (as the Django app would), upload a file to S3
(boto3), send `dq.process_s3_object` with a real Celery client, and print what celeriac
stored in reporting.*.

Needs the environment of `eval "$(tests/stack/up)"` and a running `celeriac worker`.
"""
import datetime
import json
import os
import sys

import boto3
import psycopg2
from celery import Celery

HERE = os.path.dirname(os.path.abspath(__file__))
data_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "sales.csv")
schema_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "sales.schema.json")
agency, file_name = "acme", os.path.basename(data_path)
key = f"{agency}/{datetime.date.today():%Y/%m/%d}/{file_name}"

db = psycopg2.connect(os.environ["DATABASE_URL"])
db.autocommit = True
cur = db.cursor()
with open(schema_path) as f:
    cur.execute("""INSERT INTO reporting.monitoring_file_schema_definition
                   (name, definition, created_at, updated_at) VALUES (%s, %s, now(), now())
                   ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition,
                   updated_at = now() RETURNING id""", (file_name, f.read()))
schema_id = cur.fetchone()[0]
cur.execute("SELECT id FROM reporting.monitoring_file WHERE agency_slug = %s AND file_name = %s",
            (agency, file_name))
row = cur.fetchone()
if row is None:
    cur.execute("""INSERT INTO reporting.monitoring_file (file_name, agency_slug,
                   schema_definition_id) VALUES (%s, %s, %s)""", (file_name, agency, schema_id))
else:
    cur.execute("UPDATE reporting.monitoring_file SET schema_definition_id = %s WHERE id = %s",
                (schema_id, row[0]))

s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                  region_name=os.environ.get("AWS_REGION", "us-east-1"))
s3.upload_file(data_path, "uploads", key)
print(f"uploaded s3://uploads/{key}")

app = Celery(broker=os.environ["CELERY_BROKER_URL"], backend="rpc://")
result = app.send_task("dq.process_s3_object", args=["uploads", key]).get(timeout=60)
print("task result:", json.dumps(result, indent=2))

cur.execute("""SELECT q.score, q.passed, q.deductions, q.failed_validation_message,
                      r.run_date, r.run_hour, f.latest_data_quality_score
               FROM reporting.monitoring_file_data_quality q
               JOIN reporting.monitoring_file_run r ON r.id = q.monitoring_file_run_id
               JOIN reporting.monitoring_file f ON f.id = r.monitoring_file_id
               WHERE r.id = %s""", (result["monitoring_file_run_id"],))
score, passed, deductions, message, run_date, run_hour, latest = cur.fetchone()
print(f"stored: run {run_date} hour {run_hour}: score {score}, passed {passed}, "
      f"latest_data_quality_score {latest}")
print("deductions:", json.dumps(deductions))
print("failed_validation_message:", message)
cur.execute("""SELECT profile_payload->'statisticalSummary' FROM
               reporting.monitoring_file_data_profile WHERE monitoring_file_run_id = %s""",
            (result["monitoring_file_run_id"],))
print("profile statisticalSummary:", json.dumps(cur.fetchone()[0])[:600], "...")
