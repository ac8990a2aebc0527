"""What the system tests share: the integration harness, a runner, and the
staged installation (the project built with prefix /usr and installed into
a DESTDIR).

Each test_*.py is one meson test: `test_X.py` runs its `main(h)` with a fresh
harness.Harness (tests/integration/harness.py, imported, not modified).
Exit status 0 when it passed, 1 when it failed; never 77 (meson's "skipped"):
a test that cannot run fails.
"""

import fcntl
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("SOURCE_ROOT", os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "integration"))

import harness  # noqa: E402
from harness import TestFailure, check, check_equal, run_process, wait_until  # noqa: E402,F401

# Functions to call when the runner is being killed (meson's timeout), after
# harness.emergency_cleanup(): they must be quick and must not raise.
_EMERGENCY = []


def on_emergency(fn):
    _EMERGENCY.append(fn)


def run(main):
    """Runs main(h) with a fresh harness; exits with the test's status."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    sys.exit(harness.run_case(f"system.{name}", main, emergency=_EMERGENCY))


# ---------------------------------------------------------------- the staged installation

# What the project installs with prefix /usr (meson's defaults otherwise:
# bindir bin, libexecdir libexec, sysconfdir /etc), relative to DESTDIR:
# path -> mode, or path -> "-> target" for a symbolic link.
STAGED_FILES = {
    "usr/bin/devauthctl": 0o755,
    "usr/libexec/devauthd": 0o755,
    "usr/libexec/devauthctl-bus": 0o755,
    "usr/lib/systemd/system/devauthd.service": 0o644,
    "usr/lib/systemd/system/devauth-wait-online.service": 0o644,
    "usr/lib/systemd/system/devauth-online.target": 0o644,
    "usr/lib/systemd/system/dbus-org.devauth.DeviceAuth1.service": "-> devauthd.service",
    "usr/lib/sysusers.d/devauthd.conf": 0o644,
    "usr/lib/tmpfiles.d/devauthd.conf": 0o644,
    "usr/lib/sysctl.d/50-devauthd-keys.conf": 0o644,
    "usr/share/dbus-1/system.d/org.devauth.DeviceAuth1.conf": 0o644,
    "usr/share/dbus-1/system-services/org.devauth.DeviceAuth1.service": 0o644,
    "usr/share/dbus-1/interfaces/org.devauth.DeviceAuth1.xml": 0o644,
    "usr/share/polkit-1/actions/org.devauth.policy": 0o644,
    "usr/share/doc/devauthd/50-devauth-admin.rules.example": 0o644,
    "usr/share/doc/devauthd/devauthd-api-org.devauth.DeviceAuth1.Manager.rst": 0o644,
    "usr/share/doc/devauthd/devauthd-api-org.devauth.DeviceAuth1.Account.rst": 0o644,
    "usr/share/man/man1/devauthctl.1": 0o644,
    "usr/share/man/man5/devauthd.conf.5": 0o644,
    "usr/share/man/man8/devauthd.8": 0o644,
    "usr/share/bash-completion/completions/devauthctl": 0o644,
}

UNITS = ["devauthd.service", "devauth-wait-online.service", "devauth-online.target"]
UNIT_DIR = "usr/lib/systemd/system"


def _stage_build_dir():
    path = os.environ.get("SYSTEM_STAGE_BUILD")
    check(bool(path), "$SYSTEM_STAGE_BUILD is not set (run the tests through meson)")
    return path


def staged_install(destdir):
    """Builds the project with prefix /usr in a build directory of its own
    (once; later only what changed) and installs it into destdir, which must
    not exist yet. Returns destdir."""
    build = _stage_build_dir()
    meson = os.environ.get("MESON", "meson")
    os.makedirs(os.path.dirname(build), exist_ok=True)
    with open(build + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not os.path.exists(os.path.join(build, "build.ninja")):
                shutil.rmtree(build, ignore_errors=True)
                rc, out, err = run_process(
                    [meson, "setup", "--prefix=/usr", "--sysconfdir=/etc",
                     "--localstatedir=/var", "--buildtype=debugoptimized", build, SOURCE_ROOT],
                    timeout=300)
                check(rc == 0, f"meson setup of the staged build failed ({rc}):\n{out}\n{err}")
            rc, out, err = run_process(
                ["ninja", "-C", build], timeout=600)
            check(rc == 0, f"building the staged tree failed ({rc}):\n{out}\n{err}")
            rc, out, err = run_process(
                [meson, "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", destdir],
                timeout=120)
            check(rc == 0, f"meson install into {destdir} failed ({rc}):\n{out}\n{err}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return destdir


def files_in(tree):
    """Every non-directory under tree, relative to it, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            found.append(os.path.relpath(os.path.join(dirpath, name), tree))
    return sorted(found)


def subprocess_env(**extra):
    env = dict(os.environ)
    env.update({"LC_ALL": "C.UTF-8", "SYSTEMD_PAGER": "cat", "SYSTEMD_COLORS": "0",
                "SYSTEMD_LOG_COLOR": "0"})
    env.update(extra)
    return env


__all__ = ["TestFailure", "check", "check_equal", "run_process", "wait_until", "harness", "run",
           "on_emergency", "staged_install", "files_in", "subprocess_env", "STAGED_FILES",
           "UNITS", "UNIT_DIR", "HERE", "SOURCE_ROOT"]
