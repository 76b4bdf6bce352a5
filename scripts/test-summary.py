#!/usr/bin/env python3
"""Names every failed test of a Maven run: reads each module's surefire reports and the run's log.

Usage: scripts/test-summary.py MAVEN_LOG
Prints "all N tests passed" or one line per failed test (and per module that failed or was skipped without a
failed test, such as a compile error); exits 1 if anything failed.
"""
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET


def first_line(text):
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def main():
    log = sys.argv[1]
    total = skipped = 0
    failed = []  # (test, reason)
    for report in sorted(glob.glob("*/target/surefire-reports/TEST-*.xml")):
        module = report.split(os.sep)[0]
        try:
            suite = ET.parse(report).getroot()
        except ET.ParseError:
            failed.append((f"{module}: {os.path.basename(report)}", "unreadable report (did the test JVM die?)"))
            continue
        for case in suite.iter("testcase"):
            total += 1
            if case.find("skipped") is not None:
                skipped += 1
                continue
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is None:
                continue
            name = case.get("classname") or suite.get("name")
            if case.get("name"):
                name += "." + case.get("name")
            reason = problem.get("message") or first_line(problem.text) or problem.get("type") or ""
            failed.append((name, first_line(reason)))

    # modules that failed for another reason than their tests (a compile error, a crashed fork), and modules that
    # --fail-at-end skipped because one they depend on failed
    broken = []
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            text = f.read()
        # a test JVM that died leaves no report for the class it was running; only the log names it
        # ("Crashed tests:", then one class per line)
        crashed = []
        for block in re.finditer(r"^\[ERROR\] Crashed tests:\n((?:\[ERROR\] [\w.$]+\n)+)", text, re.M):
            for line in block.group(1).splitlines():
                name = line[len("[ERROR] "):]
                if name not in crashed:
                    crashed.append(name)
        for name in crashed:
            broken.append(f"FAILED {name}: its test JVM died (crash, exit or timeout; see {log})")
        for m in re.finditer(r"^\[ERROR\] Failed to execute goal (\S+) \S+ on project (\S+): (.*)$", text, re.M):
            goal, project, message = m.groups()
            if "surefire" in goal and (crashed or failed):
                continue
            if not message.strip():
                message = "see " + log
            broken.append(f"FAILED {project}: {goal.split(':')[1]} failed: {first_line(message)}")
        summary = text[text.rfind("Reactor Summary"):] if "Reactor Summary" in text else ""
        for m in re.finditer(r"^\[INFO\] (.+?) \.+ SKIPPED", summary, re.M):
            broken.append(f"NOT RUN {m.group(1)}: skipped, it depends on a module that failed")
        if not broken and not failed and "BUILD SUCCESS" not in text:
            broken.append(f"FAILED: Maven did not finish (see {log})")

    if not failed and not broken:
        print(f"test: all {total} tests passed" + (f" ({skipped} skipped)" if skipped else ""))
        return 0
    if failed:
        print(f"test: {len(failed)} of {total} tests failed:")
    else:
        print(f"test: the {total} tests that reported passed, but not everything ran to the end:")
    for name, reason in failed:
        print(f"  FAILED {name}: {reason}")
    for line in broken:
        print(f"  {line}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
