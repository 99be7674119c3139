#!/usr/bin/python3
"""tests/bench/ingest_bench.py: load throughput of ingest.process_s3_object next to
`psql \\copy` of the same file, in one run.

What it does: writes an N-row pharmacy-claims CSV (default 1,000,000 rows, ~130 MB), uploads
it to the stack's S3, starts a celeriac worker (CELERIAC_BIN, default build-release/celeriac:
use an optimized build without sanitizers), sends ingest.process_s3_object with the real
Celery client and times it until the result arrives; then times `psql \\copy` of the same
local file into (a) a table shaped like ingest.pharmacy_claim with the same indexes and
constraints and (b) the same table without indexes (COPY's floor). Prints rows/s for each and
the worker child's peak RSS. Cleans up the rows, tables, record and object afterwards.

What the figures include: celeriac streams the object from S3 over HTTP, parses and
validates every row against the strategy's Table Schema, COPYs into a temporary staging
table, de-duplicates the conflict key, and merges with INSERT ... ON CONFLICT (all in one
transaction); psql reads a local file and COPYs straight into the table, validating nothing
beyond the column types. So the comparison is "everything the task does" vs "the fastest
plain load of the same bytes". No assertion on timings: a benchmark reports.

Usage: eval "$(tests/stack/up)"; CELERIAC_BIN=build-release/celeriac tests/bench/ingest_bench.py
       [--rows N] [--keep-file]
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLS = ["claim_id", "member_id", "pharmacy_npi", "prescriber_npi", "ndc", "drug_name",
        "fill_date", "quantity", "days_supply", "ingredient_cost", "dispensing_fee",
        "copay_amount", "paid_amount", "claim_status"]


def need_env():
    missing = [k for k in ("CELERY_BROKER_URL", "DATABASE_URL", "AWS_ENDPOINT_URL_S3")
               if not os.environ.get(k)]
    if missing:
        print(f"SKIPPED: stack environment missing ({', '.join(missing)}); "
              f"run: eval \"$(tests/stack/up)\"", file=sys.stderr)
        sys.exit(77)


def write_file(path, prefix, n):
    drugs = ["Lisinopril 10 mg tab", "Atorvastatin 20 mg", "Metformin 500 mg, ER",
             "Amoxicillin 500 mg cap", ""]
    status = ["PAID", "PAID", "PAID", "REVERSED", "REJECTED"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLS)
        for i in range(n):
            w.writerow([f"{prefix}-{i:08d}", f"M{i % 250000:07d}", f"{1000000000 + i % 5000}",
                        "" if i % 7 == 0 else f"{1900000000 + i % 9000}", f"{i % 99999999:011d}",
                        drugs[i % 5], f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
                        f"{1 + i % 90}.{i % 1000:03d}", "" if i % 13 == 0 else str(1 + i % 90),
                        f"{i % 5000}.{i % 100:02d}", "1.75", f"{i % 50}.00",
                        f"{(i * 7) % 9000}.{i % 100:02d}", status[i % 5]])


def psql(sql, *extra, capture=False):
    return subprocess.run(["psql", os.environ["DATABASE_URL"], "-v", "ON_ERROR_STOP=1", "-qAt",
                           *extra, "-c", sql], check=True, capture_output=capture, text=True)


def child_peak_rss_kib(worker_pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(worker_pid)], capture_output=True,
                         text=True).stdout.split()
    peak = 0
    for pid in out:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep-file", action="store_true")
    args = ap.parse_args()
    need_env()
    binary = os.environ.get("CELERIAC_BIN", os.path.join(SRC, "build-release", "celeriac"))
    if not os.access(binary, os.X_OK):
        print(f"celeriac binary not found at {binary} (set CELERIAC_BIN)", file=sys.stderr)
        sys.exit(2)
    import boto3
    from celery import Celery

    tag = uuid.uuid4().hex[:8]
    prefix = f"bench-{tag}"
    key = f"bench-ingest/{prefix}/pharmacy_claims_bench.csv"
    tmp = tempfile.mkdtemp(prefix="ingest-bench-")
    path = os.path.join(tmp, "pharmacy_claims_bench.csv")
    queue = f"bench-ingest-{tag}"
    table = f"bench_copy_{tag}"
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                      region_name=os.environ.get("AWS_REGION", "us-east-1"))
    worker = None
    results = []
    try:
        t = time.time()
        write_file(path, prefix, args.rows)
        size = os.path.getsize(path)
        print(f"file: {args.rows:,} rows, {size / 1e6:.1f} MB ({time.time() - t:.1f} s to write)")
        subprocess.run([binary, "migrate"], check=True, capture_output=True)
        s3.upload_file(path, "uploads", key)

        # ---- celeriac: ingest.process_s3_object
        log = open(os.path.join(tmp, "worker.log"), "wb")
        worker = subprocess.Popen([binary, "worker", "-Q", queue, "-c", "1", "-l", "info"],
                                  stdout=log, stderr=log)
        app = Celery("bench", broker=os.environ["CELERY_BROKER_URL"], backend="rpc://")
        app.send_task("celeriac.ping", queue=queue).get(timeout=60)  # worker is up
        t = time.time()
        res = app.send_task("ingest.process_s3_object", args=["uploads", key],
                            queue=queue).get(timeout=3600)
        dt = time.time() - t
        assert res["rows_loaded"] == args.rows, res
        results.append(("celeriac ingest.process_s3_object (S3 -> validate -> staging -> "
                        "merge, indexed target)", dt))
        peak = child_peak_rss_kib(worker.pid)
        t = time.time()
        again = app.send_task("ingest.process_s3_object", args=["uploads", key],
                              queue=queue).get(timeout=600)
        redo = time.time() - t
        assert again["already_loaded"] is True

        # ---- psql \copy of the same local file
        psql(f"CREATE TABLE public.{table} (LIKE ingest.pharmacy_claim INCLUDING DEFAULTS "
             f"INCLUDING CONSTRAINTS INCLUDING INDEXES INCLUDING IDENTITY)")
        psql(f"ALTER TABLE public.{table} ALTER source_bucket SET DEFAULT 'uploads', "
             f"ALTER source_key SET DEFAULT '{key}', ALTER source_etag SET DEFAULT 'x'")
        copy = f"\\copy public.{table} ({', '.join(COLS)}) FROM '{path}' WITH (FORMAT csv, HEADER)"
        t = time.time()
        psql(copy)
        results.append(("psql \\copy, same indexes and constraints as the target",
                        time.time() - t))
        psql(f"DROP TABLE public.{table}")
        psql(f"CREATE TABLE public.{table} (LIKE ingest.pharmacy_claim INCLUDING DEFAULTS "
             f"INCLUDING IDENTITY)")
        psql(f"ALTER TABLE public.{table} ALTER source_bucket SET DEFAULT 'uploads', "
             f"ALTER source_key SET DEFAULT '{key}', ALTER source_etag SET DEFAULT 'x'")
        t = time.time()
        psql(copy)
        results.append(("psql \\copy, no indexes (COPY's floor)", time.time() - t))

        print(f"\n{'method':<80} {'seconds':>8} {'rows/s':>11}")
        for name, secs in results:
            print(f"{name:<80} {secs:8.2f} {args.rows / secs:11,.0f}")
        base = results[1][1]
        print(f"\nceleriac / psql \\copy (indexed): {results[0][1] / base:.2f}x the time")
        print(f"celeriac worker child peak RSS: {peak / 1024:.0f} MiB")
        with open(os.path.join(tmp, "worker.log"), errors="replace") as f:
            phases = [ln for ln in f if " ingest.loaded " in ln]
        if phases:
            fields = dict(kv.split("=", 1) for kv in phases[0].split() if "=" in kv)
            print("celeriac phases: read+validate+COPY to staging {stage_s} s, dedupe+rejects "
                  "{check_s} s, merge+commit {merge_s} s (of which replacing the previous "
                  "version's rows {replace_s} s)".format(**fields))
        print(f"re-delivery of the same object (already loaded, nothing written): {redo:.2f} s")
    finally:
        if worker:
            worker.terminate()
            worker.wait(timeout=60)
        subprocess.run(["psql", os.environ["DATABASE_URL"], "-qAt", "-c",
                        f"DROP TABLE IF EXISTS public.{table}; "
                        f"DELETE FROM ingest.pharmacy_claim WHERE source_key = '{key}'; "
                        f"DELETE FROM ingest.ingestion_record WHERE key = '{key}'"],
                       capture_output=True)
        try:
            s3.delete_object(Bucket="uploads", Key=key)
        except Exception as e:  # noqa: BLE001 - cleanup is best effort
            print(f"cleanup: {e}", file=sys.stderr)
        # the upload also notified the stack's shared events queue: take that event back
        subprocess.run([sys.executable, os.path.join(SRC, "tests", "integration",
                                                     "s3_drain_events.py"),
                        f"uploads/bench-ingest/{prefix}/"], capture_output=True, timeout=120)
        if args.keep_file:
            print(f"file kept: {path}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
