#!/usr/bin/python3
"""Runs one integration test case: run.py MODULE CASE

MODULE is test_MODULE.py beside this file and CASE its function test_CASE,
which gets a fresh harness.Harness. Exit status 0 when the case passed,
1 when it failed; never 77 (meson's "skipped"): a case that cannot run fails.

run.py --check-registered MESON_BUILD checks that every case of every module
is registered in tests/integration/meson.build, and nothing else is.
"""

import importlib
import os
import re
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


def modules():
    for entry in sorted(os.listdir(HERE)):
        m = re.fullmatch(r"test_(\w+)\.py", entry)
        if m:
            yield m.group(1)


def cases(module_name):
    module = importlib.import_module(f"test_{module_name}")
    return sorted(name[len("test_"):] for name in dir(module)
                  if name.startswith("test_") and callable(getattr(module, name)))


def check_registered(meson_build):
    with open(meson_build) as f:
        text = f.read()
    registered = set(re.findall(r"\[\s*'(\w+)'\s*,\s*'(\w+)'\s*,\s*\d+\s*\]", text))
    defined = {(m, c) for m in modules() for c in cases(m)}
    missing = sorted(defined - registered)
    stale = sorted(registered - defined)
    for m, c in missing:
        print(f"not registered in {meson_build}: {m} {c}")
    for m, c in stale:
        print(f"registered but not defined: {m} {c}")
    if not defined:
        print("no test cases found")
        return 1
    return 1 if missing or stale else 0


def run_case(module_name, case):
    try:
        module = importlib.import_module(f"test_{module_name}")
    except Exception:  # noqa: BLE001 - an import error is a failure
        traceback.print_exc()
        return 1
    fn = getattr(module, f"test_{case}", None)
    if fn is None:
        print(f"no test_{case} in test_{module_name}.py")
        return 1
    return harness.run_case(f"{module_name}.{case}", fn)


def main(argv):
    if len(argv) == 3 and argv[1] == "--check-registered":
        return check_registered(argv[2])
    if len(argv) != 3:
        print(__doc__)
        return 1
    return run_case(argv[1], argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
