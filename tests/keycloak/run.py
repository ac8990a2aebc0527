#!/usr/bin/python3
"""Runs one case against the real Keycloak: run.py CASE (the function
test_CASE of test_keycloak.py) with a fresh harness.Harness from
tests/integration/harness.py and the suite's Keycloak (kc.py).

run.py --check-registered MESON_BUILD checks that every case is registered
in tests/keycloak/meson.build, and nothing else is. Exit 0 when the case
passed, 1 when it failed; never 77: a case that cannot run fails.
Needs DEVAUTHD, DEVAUTHCTL, SOURCE_ROOT and DEVAUTH_KEYCLOAK_STATE in the
environment (meson sets the first three, tools/run-suite the last).
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
import kc  # noqa: E402

_diagnostics = harness.Harness.diagnostics

# what Keycloak logs when it loses an approval to a poll (see main)
KEYCLOAK_LOST_APPROVAL = 'because "clientSession" is null'


def diagnostics(self):
    return _diagnostics(self) + "\n" + kc.keycloak_diagnostics(self)


harness.Harness.diagnostics = diagnostics


def cases():
    import test_keycloak
    return sorted(name[len("test_"):] for name in dir(test_keycloak)
                  if name.startswith("test_") and callable(getattr(test_keycloak, name)))


def check_registered(meson_build):
    with open(meson_build) as f:
        text = f.read()
    registered = set(re.findall(r"\[\s*'(\w+)'\s*,\s*\d+\s*(?:,\s*'\w+'\s*)?\]", text))
    defined = set(cases())
    for c in sorted(defined - registered):
        print(f"not registered in {meson_build}: {c}")
    for c in sorted(registered - defined):
        print(f"registered but not defined: {c}")
    return 1 if defined != registered or not defined else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--check-registered":
        return check_registered(argv[2])
    if len(argv) != 2:
        print(__doc__)
        return 1
    import test_keycloak
    fn = getattr(test_keycloak, f"test_{argv[1]}", None)
    if fn is None:
        print(f"no test_{argv[1]} in test_keycloak.py")
        return 1
    start = kc.Keycloak().log_offset()
    rc = harness.run_case(f"keycloak.{argv[1]}", fn)
    if rc != 0 and KEYCLOAK_LOST_APPROVAL in kc.Keycloak().log()[start:]:
        print("note: Keycloak failed (HTTP 500, clientSession is null) on a poll that came "
              "while an approval was being stored, and dropped the device code: a fault of "
              "Keycloak's device grant (DeviceGrantType removes the code, then dereferences "
              "the client session not yet stored), not of devauthd, whose answer to it "
              "faults.device_poll_success_lost tests. The case runs once more.", flush=True)
        rc = harness.run_case(f"keycloak.{argv[1]}", fn)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
