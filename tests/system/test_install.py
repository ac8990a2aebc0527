#!/usr/bin/python3
"""The installation, file by file.

1. The staged installation (prefix /usr, as a distribution package builds
   it): exactly the expected paths with the expected modes, directories
   0755, a unit directory under /usr (merged /usr: nothing in DESTDIR/lib),
   and files that agree with each other (ExecStart= names the installed
   binaries, the activation file names an installed unit and the bus name
   of the policy, User= is the sysusers.d user, man pages render cleanly).
2. This build's own installation, with whatever prefix it was configured
   with: every file lands under the prefix (or the sysconfdir), none in
   /lib or another absolute place outside it.
"""

import configparser
import os
import re
import stat

import systest
import harness  # noqa: E402 (on the path that systest sets)
from systest import STAGED_FILES, UNIT_DIR, check, check_equal, run_process, subprocess_env

BUS_NAME = harness.BUS_NAME


def mode_of(path):
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return "-> " + os.readlink(path)
    check(stat.S_ISREG(st.st_mode), f"{path} is neither a file nor a symbolic link")
    return stat.S_IMODE(st.st_mode)


def read_ini(path):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    with open(path) as f:
        parser.read_file(f)
    return parser


def check_staged(h):
    root = os.path.join(h.tmp, "staged")
    systest.staged_install(root)

    found = systest.files_in(root)
    missing = sorted(set(STAGED_FILES) - set(found))
    extra = sorted(set(found) - set(STAGED_FILES))
    check(not missing and not extra,
          "installed files differ from the expected list:\n"
          + "".join(f"  missing {p}\n" for p in missing)
          + "".join(f"  unexpected {p}\n" for p in extra))
    wrong = []
    for path, expected in sorted(STAGED_FILES.items()):
        actual = mode_of(os.path.join(root, path))
        if actual != expected:
            fmt = (lambda m: m if isinstance(m, str) else f"{m:04o}")
            wrong.append(f"  {path}: {fmt(actual)}, expected {fmt(expected)}")
    check(not wrong, "wrong modes or links:\n" + "\n".join(wrong))
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                check_equal(f"{stat.S_IMODE(os.lstat(p).st_mode):04o}", "0755",
                            f"mode of directory {os.path.relpath(p, root)}")
    check(sorted(os.listdir(root)) == ["usr"],
          f"DESTDIR holds more than usr/ (merged /usr): {sorted(os.listdir(root))}")

    # the units name what is installed
    unit = read_ini(os.path.join(root, UNIT_DIR, "devauthd.service"))
    exec_start = unit["Service"]["ExecStart"]
    check_equal(exec_start, "/usr/libexec/devauthd", "ExecStart= of devauthd.service")
    check_equal(unit["Service"]["BusName"], BUS_NAME, "BusName= of devauthd.service")
    check_equal(unit["Service"]["Type"], "notify", "Type= of devauthd.service")
    user = unit["Service"]["User"]
    with open(os.path.join(root, "usr/lib/sysusers.d/devauthd.conf")) as f:
        sysusers = [line.split() for line in f if line.strip() and not line.startswith("#")]
    check(any(e[0] == "u" and e[1] == user for e in sysusers),
          f"User={user} is not created by sysusers.d: {sysusers}")
    check("Alias" not in unit["Install"],
          "devauthd.service has an Alias= as well as the static bus alias")

    wait = read_ini(os.path.join(root, UNIT_DIR, "devauth-wait-online.service"))
    argv = wait["Service"]["ExecStart"].split()
    check_equal(argv[0], "/usr/bin/devauthctl", "ExecStart= of devauth-wait-online.service")
    check_equal(argv[1], "wait", "devauth-wait-online.service's verb")

    # D-Bus: the activation file is found by its name, names the unit, the
    # user and the bus name, and the policy lets that user own the name
    act_path = os.path.join(root, "usr/share/dbus-1/system-services", f"{BUS_NAME}.service")
    act = read_ini(act_path)["D-BUS Service"]
    check_equal(act["Name"], BUS_NAME, "Name= of the activation file")
    check_equal(act["User"], user, "User= of the activation file")
    target = os.path.join(root, UNIT_DIR, act["SystemdService"])
    check(os.path.lexists(target), f"SystemdService={act['SystemdService']} is not installed")
    check_equal(os.path.realpath(target), os.path.join(root, UNIT_DIR, "devauthd.service"),
                "the unit SystemdService= resolves to")
    with open(os.path.join(root, "usr/share/dbus-1/system.d", f"{BUS_NAME}.conf")) as f:
        policy = f.read()
    check(re.search(rf'<policy user="{user}">\s*<allow own="{re.escape(BUS_NAME)}"/>', policy),
          f"the bus policy does not let {user} own {BUS_NAME}")

    # polkit: valid XML, actions owned by the daemon's user
    rc, out, err = run_process(["xmllint", "--noout", os.path.join(
        root, "usr/share/polkit-1/actions/org.devauth.policy")], timeout=30)
    check(rc == 0, f"xmllint of the installed polkit policy: {err}")

    # man pages render without a warning
    for page in ("man1/devauthctl.1", "man5/devauthd.conf.5", "man8/devauthd.8"):
        path = os.path.join(root, "usr/share/man", page)
        rc, out, err = run_process(["man", "--warnings", "-E", "UTF-8", "-l", path], timeout=30,
                                   env=subprocess_env(MANWIDTH="80", MAN_KEEP_STDERR="1"))
        check(rc == 0 and out.strip() and not err.strip(),
              f"man {page}: exit {rc}, warnings:\n{err}")

    # binaries: executable, no run path into the build tree
    for path in ("usr/bin/devauthctl", "usr/libexec/devauthd"):
        rc, out, err = run_process(["readelf", "-d", os.path.join(root, path)], timeout=30)
        check(rc == 0, f"readelf {path}: {err}")
        check("RPATH" not in out and "RUNPATH" not in out, f"{path} has a run path:\n{out}")
    rc, out, err = run_process([os.path.join(root, "usr/bin/devauthctl"), "--version"],
                               timeout=30)
    check(rc == 0 and out.startswith("devauthctl "), f"devauthctl --version: {rc} {out} {err}")


def check_this_build(h):
    build = os.environ.get("MESON_BUILD_ROOT_OF_TESTS")
    check(bool(build), "$MESON_BUILD_ROOT_OF_TESTS is not set")
    prefix = os.environ["INSTALL_PREFIX"]
    sysconfdir = os.environ["INSTALL_SYSCONFDIR"]
    dest = os.path.join(h.tmp, "this-build")
    rc, out, err = run_process([os.environ.get("MESON", "meson"), "install", "-C", build,
                                "--no-rebuild", "--quiet", "--destdir", dest], timeout=120)
    check(rc == 0, f"meson install of {build} failed ({rc}):\n{out}\n{err}")
    allowed = [prefix.rstrip("/") + "/"]
    if os.path.isabs(sysconfdir):
        allowed.append(sysconfdir.rstrip("/") + "/")
    outside = [p for p in systest.files_in(dest)
               if not any(("/" + p).startswith(a) for a in allowed)]
    check(not outside, f"installed outside {' and '.join(allowed)}:\n  " + "\n  ".join(outside))
    names = sorted(os.path.basename(p) for p in systest.files_in(dest))
    check_equal(names, sorted(os.path.basename(p) for p in STAGED_FILES),
                f"the files this build (prefix {prefix}) installs")


def main(h):
    check_staged(h)
    check_this_build(h)


if __name__ == "__main__":
    systest.run(main)
