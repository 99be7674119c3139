"""Oracle test: `celeriac check` profiles of real public datasets against pandas.

The datasets come from the npm package vega-datasets (pinned version), installed at
test time with npm into a cache directory (CELERIAC_TEST_CACHE, default
~/.cache/celeriac-tests) and never committed. When npm or the registry is not
reachable the module exits with status 77, which ctest shows as skipped, and the
reason is printed on stderr.

Oracle: Debian's python3-pandas. CSV is read with keep_default_na=False,
na_values=[""] (celeriac's default missing value is the empty string only; pandas
would also treat "NA", "null", "N/A"... as missing); JSON with
pandas.DataFrame(json.load(...)). Compared per column: count, nulls, distinct,
min, max, mean (1e-12 relative), the pandas-"linear" quartiles (exact), the
numeric-ish decision, IQR outlier counts; and the duplicate row count.
"""
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.no_stack  # runs `celeriac check` only: no broker, DB or S3

pd = pytest.importorskip("pandas")

VEGA = "vega-datasets@3.2.1"
BIN = os.environ.get("CELERIAC_BIN")
CACHE = pathlib.Path(os.environ.get("CELERIAC_TEST_CACHE")
                     or pathlib.Path.home() / ".cache" / "celeriac-tests")

DATASETS = ["seattle-weather.csv", "cars.json", "penguins.json", "movies.json", "airports.csv",
            "zipcodes.csv", "birdstrikes.csv", "unemployment.tsv", "weather.csv", "stocks.csv",
            "gapminder.json", "iowa-electricity.csv", "disasters.csv"]


def _skip(reason):
    print(f"SKIPPED: {reason}", file=sys.stderr)
    pytest.exit(reason, returncode=77)


@pytest.fixture(scope="module")
def data_dir():
    if not BIN:
        _skip("CELERIAC_BIN is not set (run through ctest)")
    target = CACHE / VEGA.replace("@", "-")
    data = target / "node_modules" / "vega-datasets" / "data"
    if not (data / "cars.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            _skip("npm is not installed; cannot fetch the oracle datasets")
        target.mkdir(parents=True, exist_ok=True)
        try:
            proc = subprocess.run([npm, "install", "--prefix", str(target), "--no-audit",
                                   "--no-fund", "--no-save", "--ignore-scripts", VEGA],
                                  capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            _skip("npm install timed out: the registry is not reachable")
        if proc.returncode != 0 or not (data / "cars.json").exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            _skip(f"npm install {VEGA} failed (registry unreachable?): {' | '.join(tail)}")
    return data


def load(path):
    if path.suffix == ".json":
        return pd.DataFrame(json.loads(path.read_text()))
    sep = "\t" if path.suffix == ".tsv" else ","
    return pd.read_csv(path, sep=sep, keep_default_na=False, na_values=[""])


def close(a, b, rel):
    return a == b or (isinstance(a, (int, float)) and math.isclose(a, b, rel_tol=rel, abs_tol=rel))


@pytest.mark.parametrize("name", DATASETS)
def test_profile_matches_pandas(data_dir, name):
    path = data_dir / name
    proc = subprocess.run([BIN, "check", str(path), "--compact", "--report", "both"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    df = load(path)
    ds = out["dataset"]
    cols = {c["name"]: c for c in out["profile"]["statisticalSummary"]["columns"]}
    bad = []

    def chk(col, what, got, want, rel=0.0):
        if not close(got, want, rel):
            bad.append(f"{col}.{what}: celeriac {got!r} != pandas {want!r}")

    assert ds["row_count"] == len(df)
    assert out["profile"]["rowCount"] == len(df)
    assert list(df.columns) == ds["columns"]
    for col in df.columns:
        s = df[col]
        c = cols[col]
        chk(col, "nulls", c["nulls"], int(s.isna().sum()))
        chk(col, "null_counts", ds["null_counts"][col], int(s.isna().sum()))
        chk(col, "count", c["count"], int(s.notna().sum()))
        if s.dropna().map(lambda v: isinstance(v, (list, dict))).any():
            continue  # nested JSON values: pandas cannot hash them
        chk(col, "distinct", c["distinct"], int(s.nunique()))
        numeric = s.dtype.kind in "if"
        chk(col, "numeric-ish", col in ds["numeric"], numeric)
        if numeric and s.notna().any():
            chk(col, "min", c["min"], float(s.min()))
            chk(col, "max", c["max"], float(s.max()))
            chk(col, "mean", c["mean"], float(s.mean()), 1e-12)
            for q, k in ((0.25, "q25"), (0.5, "q50"), (0.75, "q75")):
                chk(col, k, c[k], float(s.quantile(q)))
            n = ds["numeric"][col]
            chk(col, "report.min", n["min"], float(s.min()))
            chk(col, "report.max", n["max"], float(s.max()))
            chk(col, "report.mean", n["mean"], float(s.mean()), 1e-12)
            q1, q3 = s.quantile(0.25), s.quantile(0.75)
            iqr = q3 - q1
            want = int(((s < q1 - 1.5 * iqr) | (s > q3 + 1.5 * iqr)).sum())
            chk(col, "outliers", ds["outliers"][col]["count"], want)
        elif s.notna().any() and s.dropna().map(lambda v: isinstance(v, str)).all():
            chk(col, "min", c["min"], s.dropna().min())
            chk(col, "max", c["max"], s.dropna().max())
    hashable = df.astype(str) if any(df[c].dtype.kind == "O" for c in df.columns) else df
    chk("*", "duplicates", ds["duplicates"]["count"], int(hashable.duplicated().sum()))
    assert not bad, "\n".join(bad)
