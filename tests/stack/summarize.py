"""tests/stack/summarize.py: count and explain test results for tests/run.

Usage: summarize.py CTEST_JUNIT_XML CTEST_LASTTEST_LOG [PYTEST_JUNIT_XML]

Prints `COUNTS=<n> passed, <n> failed, <n> skipped` and one `SKIP=<note>` line per skipped
test: ctest tests that exited with their SKIP_RETURN_CODE (with the first output line that
mentions "skip", i.e. the reason the test printed), cmocka skip() calls and pytest skips
inside test executables that passed as a whole (read from ctest's LastTest.log), and skips in
the stack self-test's pytest JUnit file. Missing files count as no tests. Reads only.
"""

import os
import re
import sys
import xml.etree.ElementTree as ET


def main(argv):
    passed = failed = skipped = 0
    notes = []
    ctest_xml = argv[1] if len(argv) > 1 else ""
    last_log = argv[2] if len(argv) > 2 else ""
    pytest_xml = argv[3] if len(argv) > 3 else ""

    if ctest_xml and os.path.exists(ctest_xml):
        for c in ET.parse(ctest_xml).getroot().iter("testcase"):
            name = c.get("name")
            status = (c.get("status") or "").lower()
            if c.find("skipped") is not None or status in ("notrun", "skipped", "disabled"):
                skipped += 1
                why = ""
                for line in (c.findtext("system-out") or "").splitlines():
                    if re.search(r"skip", line, re.I):
                        why = line.strip()[:160]
                        break
                notes.append(f"ctest {name}: skipped" + (f" ({why})" if why else ""))
            elif c.find("failure") is not None or c.find("error") is not None or status == "fail":
                failed += 1
            else:
                passed += 1

    log = ""
    if last_log and os.path.exists(last_log):
        with open(last_log, errors="replace") as f:
            log = f.read()
    current = None
    for line in log.splitlines():
        m = re.match(r"^\d+/\d+ Test: (\S+)", line)
        if m:
            current = m.group(1)
            continue
        if current is None:
            continue
        m = re.match(r"^\[\s*SKIPPED\s*\]\s+(.*)$", line)  # cmocka
        if m:
            if not re.match(r"\d+ test\(s\)", m.group(1)):
                note = f"cmocka {current}: {m.group(1).strip()} skipped"
                if note not in notes:
                    notes.append(note)
            continue
        if re.search(r"\d+ skipped", line) and re.search(r" in [\d.]+s", line):  # pytest
            notes.append(f"pytest {current}: {line.strip('= ')}")

    if pytest_xml and os.path.exists(pytest_xml):
        for tc in ET.parse(pytest_xml).getroot().iter("testcase"):
            sk = tc.find("skipped")
            if sk is not None:
                skipped += 1
                notes.append(f"stack self-test {tc.get('name')}: {sk.get('message', '')}")
            elif tc.find("failure") is not None or tc.find("error") is not None:
                failed += 1
            else:
                passed += 1

    print(f"COUNTS={passed} passed, {failed} failed, {skipped} skipped")
    for n in notes:
        print("SKIP=" + n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
