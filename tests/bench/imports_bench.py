#!/usr/bin/python3
"""imports_bench.py: rows/s and peak memory of `imports.process_job` (issue 8) on a large
clean contacts CSV, next to two peers on the same file in the same run:

  * celeriac at N/10 and N rows (default N = 1,000,000): the real task through a real
    worker (S3 -> staging in batches -> validation -> contacts), timed from send to result;
    peak RSS = VmHWM of the worker child that ran it (a fresh worker per size), so the two
    sizes show whether memory grows with the file;
  * PostgreSQL COPY of the same CSV into a plain 4-column table (the floor: no hashing,
    no validation, no staging, no contacts; server-side, so no client RSS);
  * a pandas + psycopg2 script doing the same work the straightforward way, into the same
    imports.* tables of a second fresh database, ending in the same state (read_csv of the
    whole file, row hashes with hashlib, a regex email check, duplicate detection with
    groupby, COPY of staging rows and contacts, staging -> SUCCESS with contact_id, all in
    one transaction: no batches to resume from, no issues table work); peak RSS from
    getrusage.

Usage: tests/bench/imports_bench.py [--rows 1000000] [--no-peers] [--keep-db]
  CELERIAC_BIN  celeriac binary (default: builds RelWithDebInfo without sanitizers in
                build-bench/, as the other benches do)
Needs the local stack (eval "$(tests/stack/up)"), python3-boto3/psycopg2/celery/pandas.
Timings are printed, never asserted. The generator is deterministic (row i -> the same
bytes every run); each run uses its own email domain and its own database.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def need_env():
    missing = [k for k in ("CELERY_BROKER_URL", "DATABASE_URL", "AWS_ENDPOINT_URL_S3")
               if not os.environ.get(k)]
    if missing:
        sys.exit(f"imports_bench: the local stack is not running (missing {', '.join(missing)});"
                 f" run: eval \"$(tests/stack/up)\"")


def celeriac_bin():
    b = os.environ.get("CELERIAC_BIN")
    if b:
        return b
    build = os.path.join(SRC, "build-bench")
    print(f"== building celeriac (-O2, no sanitizers) in {build}", file=sys.stderr)
    subprocess.run(["cmake", "-S", SRC, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                    "-DCELERIAC_TESTS=OFF", "-DCELERIAC_SANITIZE=OFF"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["make", "-C", build, "-j2", "celeriac"], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(build, "celeriac")


def gen_csv(path, n, domain):
    with open(path, "w") as f:
        f.write("email,first_name,last_name,company\n")
        step = 100000
        for start in range(0, n, step):
            f.write("".join(f"user{i}@{domain},First{i},Last{i},Company {i % 997}\n"
                            for i in range(start, min(n, start + step))))


def fresh_db(psycopg2, bin_):
    base = os.environ["DATABASE_URL"]
    name = f"celeriac_impbench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    u = urllib.parse.urlsplit(base)
    url = urllib.parse.urlunsplit(u._replace(path="/" + name))
    subprocess.run([bin_, "migrate"], env=dict(os.environ, DATABASE_URL=url), check=True,
                   capture_output=True, timeout=300)
    return admin, name, url


def drop_db(admin, name):
    """DROP DATABASE ... WITH (FORCE) cannot end an autovacuum worker (another role) that is
    still busy with the freshly written tables: retry for a while."""
    import psycopg2
    for _ in range(300):
        try:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg2.Error as e:
            last = e
            time.sleep(1)
    print(f"could not drop database {name}: {last}", file=sys.stderr)


def vmhwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def run_celeriac(bin_, url, s3, psycopg2, path, n, tag):
    from celery import Celery
    key = f"bench/{tag}/{n}.csv"
    t0 = time.time()
    s3.upload_file(path, "uploads", key)
    upload_s = time.time() - t0
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("INSERT INTO imports.job (s3_bucket, s3_key) VALUES ('uploads', %s) "
                    "RETURNING id", (key,))
        job_id = cur.fetchone()[0]
    q = f"impbench-{uuid.uuid4().hex[:8]}"
    log = tempfile.NamedTemporaryFile(prefix="impbench-", suffix=".log", delete=False)
    env = dict(os.environ, DATABASE_URL=url)
    w = subprocess.Popen([bin_, "worker", "-Q", q, "-c", "1", "-n", f"{q}@%h", "-l", "debug"],
                         env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 30
        while b"broker.connected" not in open(log.name, "rb").read():
            if time.time() > deadline or w.poll() is not None:
                raise RuntimeError("worker did not connect; log: " + log.name)
            time.sleep(0.1)
        app = Celery(broker=os.environ["CELERY_BROKER_URL"], backend="rpc://")
        t0 = time.time()
        res = app.send_task("imports.process_job", args=[job_id], queue=q).get(timeout=3600)
        secs = time.time() - t0
        app.close()
        text = open(log.name, errors="replace").read()
        m = re.search(r"task\.started \S+ task=imports\.process_job pid=(\d+)", text)
        rss = vmhwm_kb(int(m.group(1))) if m else -1
        phases = {}
        stamps = {}
        for ev in ("imports.reading", "imports.validating", "imports.finished"):
            mm = re.search(r"^(\S+) \S+ \S+ " + re.escape(ev), text, re.M)
            if mm:
                stamps[ev] = time.mktime(time.strptime(mm.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) \
                    + float("0" + mm.group(1)[19:-1])
        steps = re.findall(r"imports\.step job_id=\d+ step=(\S+) rows=(\d+) seconds=(\S+)",
                           text)
        slow = sorted(steps, key=lambda x: -float(x[2]))[:8]
        print(f"  {n} rows, slowest validation steps: " +
              ", ".join(f"{name} {float(sec):.1f} s" for name, _, sec in slow), file=sys.stderr)
        if len(stamps) == 3:
            phases["staging"] = stamps["imports.validating"] - stamps["imports.reading"]
            phases["validation+consolidation"] = (stamps["imports.finished"]
                                                  - stamps["imports.validating"])
    finally:
        w.terminate()
        w.wait(timeout=60)
        log.close()
        conn.close()
    assert res["status"] == "COMPLETED" and res["contacts_created"] == n, res
    return secs, rss, upload_s, phases


PEER = r'''
import hashlib, io, json, re, resource, sys, time
import pandas as pd, psycopg2
path, url = sys.argv[1], sys.argv[2]
t0 = time.time()
df = pd.read_csv(path, dtype=str, keep_default_na=False)
cols = list(df.columns)
def ns(b): return str(len(b)).encode() + b":" + b + b","
def rh(i, row):
    d = b"imports.row.v1:" + ns(str(i).encode())
    for c, v in zip(cols, row):
        d += ns(c.encode()) + ns(v.encode())
    return hashlib.sha256(d).hexdigest()
hashes = [rh(i, r) for i, r in enumerate(df.itertuples(index=False, name=None), 1)]
atext = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
email_re = re.compile(rf"^{atext}(\.{atext})*@{atext}(\.{atext})*$")
em = df["email"].str.strip()
bad = ~em.str.match(email_re) | (df[["first_name", "last_name", "company"]]
                                 .apply(lambda s: s.str.strip() == "").any(axis=1))
norm = em.str.lower()
ident = (df["first_name"].str.strip().str.lower() + "\x1f" + df["last_name"].str.strip()
         .str.lower() + "\x1f" + df["company"].str.strip().str.lower())
dup = norm.map(pd.DataFrame({"n": norm, "i": ident}).groupby("n")["i"].nunique() > 1)
raw = [json.dumps(dict(zip(cols, r)), ensure_ascii=False)
       for r in df.itertuples(index=False, name=None)]
conn = psycopg2.connect(url)
with conn, conn.cursor() as cur:  # the same tables and end state as celeriac, one transaction
    cur.execute("INSERT INTO imports.job (s3_key, status, staged_at) VALUES ('peer', "
                "'PROCESSING', now()) RETURNING id")
    job = cur.fetchone()[0]
    buf = io.StringIO()
    esc = lambda s: s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    for i in range(len(df)):
        st = "ISSUE" if bad.iat[i] or dup.iat[i] else "READY"
        buf.write(f"{job}\t{i + 1}\t{hashes[i]}\t{esc(raw[i])}\t{esc(df['email'].iat[i])}\t"
                  f"{esc(df['first_name'].iat[i])}\t{esc(df['last_name'].iat[i])}\t"
                  f"{esc(df['company'].iat[i])}\t{st}\n")
    buf.seek(0)
    cur.copy_expert("COPY imports.staging (job_id, row_number, row_hash, raw_data, email, "
                    "first_name, last_name, company, status) FROM STDIN", buf)
    ok = df[~(bad | dup)].assign(email=em[~(bad | dup)], job=job).drop_duplicates("email")
    buf = io.StringIO()
    ok.to_csv(buf, index=False, header=False)
    buf.seek(0)
    cur.copy_expert("COPY imports.contact (email, first_name, last_name, company, "
                    "source_job_id) FROM STDIN WITH (FORMAT csv)", buf)
    cur.execute("ANALYZE imports.staging")
    cur.execute("UPDATE imports.staging s SET status = 'SUCCESS', contact_id = c.id "
                "FROM imports.contact c WHERE s.job_id = %s AND s.status = 'READY' AND "
                "lower(c.email) = lower(btrim(s.email))", (job,))
    cur.execute("UPDATE imports.job SET status = 'COMPLETED' WHERE id = %s", (job,))
secs = time.time() - t0
print(json.dumps({"seconds": secs,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
'''


def run_copy_floor(url, psycopg2, path):
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE copy_floor (email text, first_name text, last_name text, "
                    "company text)")
        t0 = time.time()
        with open(path) as f:
            cur.copy_expert("COPY copy_floor FROM STDIN WITH (FORMAT csv, HEADER true)", f)
        secs = time.time() - t0
    conn.close()
    return secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    need_env()
    import boto3
    import psycopg2
    bin_ = celeriac_bin()
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                      region_name=os.environ.get("AWS_REGION", "us-east-1"))
    tag = uuid.uuid4().hex[:8]
    admin, dbname, url = fresh_db(psycopg2, bin_)
    tmp = tempfile.mkdtemp(prefix="impbench-")
    rows_out = []
    try:
        for n in (max(1, args.rows // 10), args.rows):
            path = os.path.join(tmp, f"contacts-{n}.csv")
            gen_csv(path, n, f"n{n}.{tag}.example.com")
            mb = os.path.getsize(path) / 1e6
            secs, rss, up, phases = run_celeriac(bin_, url, s3, psycopg2, path, n, tag)
            ph = ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
            rows_out.append((f"celeriac imports.process_job ({ph})", n, mb, secs, rss))
            print(f"celeriac {n} rows ({mb:.0f} MB, S3 upload {up:.1f} s): {secs:.1f} s, "
                  f"{n / secs:,.0f} rows/s, child peak RSS {rss / 1024:.1f} MiB",
                  file=sys.stderr)
        if not args.no_peers:
            secs = run_copy_floor(url, psycopg2, path)
            rows_out.append(("PostgreSQL COPY into a 4-column table (floor)", n, mb, secs, -1))
            padmin, pname, purl = fresh_db(psycopg2, bin_)
            p = subprocess.run([sys.executable, "-c", PEER, path, purl], capture_output=True,
                               text=True)
            drop_db(padmin, pname)
            padmin.close()
            if p.returncode == 0:
                r = json.loads(p.stdout.strip().splitlines()[-1])
                rows_out.append(("pandas + psycopg2, same tables, whole file in memory", n, mb,
                                 r["seconds"], r["rss_kb"]))
            else:
                print("pandas peer failed:\n" + p.stderr[-3000:], file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep_db:
            drop_db(admin, dbname)
        admin.close()
    print("\n| implementation | rows | CSV MB | seconds | rows/s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n, mb, secs, rss in rows_out:
        r = f"{rss / 1024:.1f}" if rss >= 0 else "n/a (server side)"
        print(f"| {name} | {n:,} | {mb:.0f} | {secs:.1f} | {n / secs:,.0f} | {r} |")


if __name__ == "__main__":
    main()
