#!/usr/bin/python3
"""The whole test suite: cmocka unit tests, then the pytest suites (mock tenant, PAM stack,
end to end). Ends with one line 'N passed, N failed'; exits non-zero on any failure."""
import glob
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")


def run_unit():
    passed = failed = 0
    for binary in sorted(glob.glob(os.path.join(BUILD, "tests", "test_*"))):
        if "." in os.path.basename(binary) or not os.access(binary, os.X_OK):
            continue  # a log or leftover beside the test programs
        proc = subprocess.run([binary], capture_output=True, text=True, cwd=ROOT)
        out = proc.stdout + proc.stderr
        sys.stdout.write(out)
        p = sum(int(n) for n in re.findall(r"\[  PASSED  \] (\d+) test", out))
        f = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", out))
        if proc.returncode != 0 and f == 0:
            f = 1  # crashed or failed before its summary
            print("%s: exit status %d without a failure summary" % (binary, proc.returncode))
        passed += p
        failed += f
    return passed, failed


def run_pytest(extra):
    report = os.path.join(BUILD, "pytest-report.xml")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE",
           "--junitxml", report, os.path.join(ROOT, "tests")] + extra
    proc = subprocess.run(cmd, cwd=ROOT)
    try:
        suite = ET.parse(report).getroot()
    except (OSError, ET.ParseError):
        return 0, 1
    if suite.tag == "testsuites":
        suite = suite[0]
    total = int(suite.get("tests", 0))
    bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    if proc.returncode not in (0, 1) and bad == 0:
        bad = 1  # pytest itself failed (usage, collection, no tests)
    return total - bad - skipped, bad + skipped  # a skipped check counts as a failure here


def main():
    up, uf = run_unit()
    print("unit: %d passed, %d failed" % (up, uf))
    pp, pf = run_pytest(sys.argv[1:])
    print("pytest: %d passed, %d failed" % (pp, pf))
    passed, failed = up + pp, uf + pf
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
