"""Payload caps hold on a 1M-row file (issue 3, acceptance 4): sample rows <= 50 and every
list in the profile, metrics and failed-validation rules <= 25 items, however many distinct
values, outliers and failing rows the file has."""
import json
import os
import random
import subprocess

import pytest

pytestmark = pytest.mark.no_stack  # `celeriac check` only

BIN = os.environ.get("CELERIAC_BIN", "build/celeriac")


def longest_lists(v, path="$", out=None):
    out = [] if out is None else out
    if isinstance(v, list):
        out.append((len(v), path))
        for i, x in enumerate(v[:3]):
            longest_lists(x, f"{path}[{i}]", out)
    elif isinstance(v, dict):
        for k, x in v.items():
            longest_lists(x, f"{path}.{k}", out)
    return out


def test_caps_on_a_million_rows(tmp_path):
    rng = random.Random(7)
    data = tmp_path / "big.csv"
    with open(data, "w") as f:
        f.write("id,email,amount,code,day\n")
        for i in range(1_000_000):
            email = f"user{i}@example.com" if i % 97 else f"broken-{i}"
            amount = rng.gauss(100, 15) if i % 1000 else 1e6 + i   # outliers
            code = f"C{rng.randrange(1_000_000)}"                  # ~630k distinct values
            day = f"2026-01-{1 + i % 28:02d}" if i % 53 else "not-a-day"
            f.write(f"{i % 900_000},{email},{amount:.2f},{code},{day}\n")  # duplicated ids
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"fields": [
        {"name": "id", "type": "integer", "constraints": {"unique": True}},
        {"name": "email", "type": "string", "format": "email"},
        {"name": "amount", "type": "number", "constraints": {"maximum": 500}},
        {"name": "code", "type": "string", "constraints": {"pattern": "C[0-9]{1,5}"}},
        {"name": "day", "type": "date"}]}))
    r = subprocess.run([BIN, "check", str(data), "--schema", str(schema), "--report", "both"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 1, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["input"]["rows"] == 1_000_000
    q, profile = out["quality"], out["profile"]
    assert q["deductions"]["format"] > 0 and q["deductions"]["bounds"] > 0
    assert q["deductions"]["uniqueness"] == 10
    assert 25 <= len(profile["sampleData"]["rows"]) <= 50
    assert 1 <= len(q["failed_validation_rules"]) <= 25
    assert len(profile["sampleData"]["columns"]) == 5
    for payload, name in ((profile, "profile"), (q["metrics"], "metrics"),
                          (q["failed_validation_rules"], "rules"), (out["dataset"], "dataset")):
        for n, path in longest_lists(payload):
            limit = 50 if path.endswith("sampleData.rows") else 25
            assert n <= limit, f"{name} {path} has {n} items"
