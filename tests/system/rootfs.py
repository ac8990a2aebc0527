"""The root file system of the boot test: a minimal Debian 12 made by
mmdebstrap, built once per machine and package list and kept in
/var/cache/devauthd-tests/rootfs-<hash>/ (or $DEVAUTH_TEST_CACHE), where
<hash> covers everything that goes into it (this list, the options, the
apt sources). It is never modified afterwards: each boot runs on an
overlay of it.

Contents: systemd, dbus, polkitd and keyutils, and the runtime libraries of
devauthd and devauthctl; no Node.js (the IdP runs on the host, the
container shares its network namespace), no man pages or translations.
"""

import fcntl
import hashlib
import json
import os
import shutil
import time

from harness import TestFailure, check, run_process

CACHE_DIR = os.environ.get("DEVAUTH_TEST_CACHE", "/var/cache/devauthd-tests")
SUITE = "bookworm"
VARIANT = "minbase"
PACKAGES = [
    # the system
    "systemd", "systemd-sysv", "dbus", "polkitd", "keyutils",
    # devauthd's and devauthctl's libraries (see meson.build's dependencies)
    "libglib2.0-0", "libsoup-3.0-0", "libjson-glib-1.0-0", "libqrencode4", "libkeyutils1",
    "libpolkit-gobject-1-0", "libgnutls30", "libsystemd0", "glib-networking",
    # devauthctl qr --format=png
    "libpng16-16",
]
DPKG_OPTIONS = [
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
]
# The machine's own Debian sources (mirror, updates, security), so that the
# container gets the same library versions the binaries were built against.
HOST_SOURCES = "/etc/apt/sources.list.d/debian.sources"
FORMAT = 1  # bump when the way the tree is made changes
BUILD_TIMEOUT = 600
LOCK_TIMEOUT = BUILD_TIMEOUT + 60


def _sources():
    try:
        with open(HOST_SOURCES) as f:
            return HOST_SOURCES, f.read()
    except FileNotFoundError:
        return None, ""


def cache_key():
    _, sources = _sources()
    spec = {"format": FORMAT, "suite": SUITE, "variant": VARIANT,
            "packages": sorted(PACKAGES), "dpkg": DPKG_OPTIONS, "sources": sources}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def path():
    return os.path.join(CACHE_DIR, f"rootfs-{cache_key()}")


def _mounts_under(directory):
    prefix = os.path.realpath(directory).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mountpoint = line.split()[4].replace("\\040", " ")
            if (mountpoint + "/").startswith(prefix):
                found.append(mountpoint)
    return sorted(found, key=len, reverse=True)


def _remove(directory):
    """rm -rf, but never through a mount point left behind by a killed build."""
    for mountpoint in _mounts_under(directory):
        run_process(["umount", "--lazy", mountpoint], timeout=30)
    check(not _mounts_under(directory), f"cannot unmount everything under {directory}")
    shutil.rmtree(directory, ignore_errors=True)


def _build(target, log):
    mirror, _ = _sources()
    argv = ["mmdebstrap", "--mode=root", f"--variant={VARIANT}", "--format=directory",
            "--include=" + ",".join(PACKAGES), "--aptopt=Acquire::Retries \"3\""]
    argv += [f"--dpkgopt={o}" for o in DPKG_OPTIONS]
    argv += [SUITE, target]
    if mirror:
        argv.append(mirror)
    start = time.monotonic()
    rc, out, err = run_process(argv, timeout=BUILD_TIMEOUT)
    with open(log, "w") as f:
        f.write(out + err)
    check(rc == 0, f"mmdebstrap failed ({rc}); last lines:\n" + "\n".join(
        (out + err).splitlines()[-30:]))
    check(os.path.isfile(os.path.join(target, "usr/lib/systemd/systemd")),
          "the new root file system has no systemd")
    print(f"built {target} in {time.monotonic() - start:.0f} s", flush=True)


def ensure():
    """The cached root file system; builds it first when missing."""
    final = path()
    if os.path.isdir(final):
        return final
    check(shutil.which("mmdebstrap") is not None,
          "mmdebstrap is missing (apt-get install mmdebstrap; tools/setup-deps does it)")
    os.makedirs(CACHE_DIR, mode=0o755, exist_ok=True)
    with open(os.path.join(CACHE_DIR, "rootfs.lock"), "w") as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TestFailure("another test has been building the root file system "
                                      f"for {LOCK_TIMEOUT} s") from None
                time.sleep(0.5)
        try:
            if os.path.isdir(final):
                return final
            tmp = f"{final}.tmp-{os.getpid()}"
            if os.path.lexists(tmp):
                _remove(tmp)
            # what earlier, killed builds left behind
            for entry in os.listdir(CACHE_DIR):
                if ".tmp-" in entry:
                    _remove(os.path.join(CACHE_DIR, entry))
            try:
                _build(tmp, f"{final}.log")
                os.rename(tmp, final)
            finally:
                if os.path.lexists(tmp):
                    _remove(tmp)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return final
