#!/usr/bin/python3
"""Runs one fault case: run.py CASE (the function test_CASE of test_faults.py)
with a fresh harness.Harness from tests/integration/harness.py.

run.py --check-registered MESON_BUILD checks that every case is registered
in tests/faults/meson.build, and nothing else is. Exit 0 when the case
passed, 1 when it failed; never 77: a case that cannot run fails.
Needs DEVAUTHD, DEVAUTHCTL and SOURCE_ROOT in the environment (meson sets them).
"""

import os
import re
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402


def cases():
    import test_faults
    return sorted(name[len("test_"):] for name in dir(test_faults)
                  if name.startswith("test_") and callable(getattr(test_faults, name)))


def known_bugs():
    """The cases registered with should_fail (tests of known daemon bugs, in a
    list named fault_known_bugs in meson.build; none at the moment)."""
    with open(os.path.join(HERE, "meson.build")) as f:
        text = f.read()
    block = text.split("fault_known_bugs = [", 1)[1].split("]\n", 1)[0] if "fault_known_bugs" in text else ""
    return set(re.findall(r"'(\w+)'", block))


def check_registered(meson_build):
    with open(meson_build) as f:
        text = f.read()
    registered = set(re.findall(r"\[\s*'(\w+)'\s*,\s*\d+\s*\]", text))
    defined = set(cases())
    for c in sorted(defined - registered):
        print(f"not registered in {meson_build}: {c}")
    for c in sorted(registered - defined):
        print(f"registered but not defined: {c}")
    return 1 if defined != registered or not defined else 0


def run_case(case):
    try:
        import test_faults
    except Exception:  # noqa: BLE001 - an import error is a failure
        traceback.print_exc()
        return 1
    fn = getattr(test_faults, f"test_{case}", None)
    if fn is None:
        print(f"no test_{case} in test_faults.py")
        return 1
    # a known bug fails on purpose (should_fail in meson.build): nothing to keep
    return harness.run_case(f"faults.{case}", fn, keep_on_failure=case not in known_bugs())


def main(argv):
    if len(argv) == 3 and argv[1] == "--check-registered":
        return check_registered(argv[2])
    if len(argv) != 2:
        print(__doc__)
        return 1
    return run_case(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
