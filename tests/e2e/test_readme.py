"""The README's configuration table is the settings table: regenerate and compare."""
import os
import re
import subprocess

import pytest

pytestmark = pytest.mark.no_stack

SRC = os.environ.get("CELERIAC_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BIN = os.environ.get("CELERIAC_BIN", os.path.join(SRC, "build", "celeriac"))


def test_config_table_matches_binary():
    readme = open(os.path.join(SRC, "README.md")).read()
    m = re.search(r"<!-- config-table:begin -->\n(.*?)\n<!-- config-table:end -->", readme, re.S)
    assert m, "README lacks the config-table markers"
    out = subprocess.run([BIN, "worker", "--help-markdown"], capture_output=True, text=True,
                         check=True).stdout.rstrip("\n")
    assert m.group(1) == out, "README config table is stale: regenerate it with " \
                              "`celeriac worker --help-markdown`"


def test_bad_config_fails_at_start_naming_the_variable():
    env = dict(os.environ, CELERY_WORKER_CONCURRENCY="lots")
    r = subprocess.run([BIN, "worker"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 2
    assert "CELERY_WORKER_CONCURRENCY" in r.stderr
    env = dict(os.environ, CELERY_RESULT_BACKEND="redis://x")
    r = subprocess.run([BIN, "worker"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 2 and "rpc://" in r.stderr
