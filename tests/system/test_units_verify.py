#!/usr/bin/python3
"""`systemd-analyze verify` on the installed units; any output fails.

The root is the staged installation (prefix /usr, merged-/usr layout) on top
of a copy of this machine's own systemd units, so that the units the
project's units name (sysinit.target, dbus.socket, network-online.target,
…) exist. verify also checks that the commands of ExecStart= are
executables in that root, and looks up every Documentation=man: page with
man(1): MANPATH is the staged tree's man directory alone, so the check
passes only when the project installs those man pages itself. verify exits
0 on typos, hence the rule that any output at all is a failure.
"""

import os
import shutil

import systest
from systest import UNIT_DIR, UNITS, check, run_process, subprocess_env

HOST_UNIT_DIR = "/usr/lib/systemd/system"


def make_root(tmp):
    root = os.path.join(tmp, "root")
    systest.staged_install(root)
    check(os.path.isdir(HOST_UNIT_DIR), f"{HOST_UNIT_DIR} is missing: is systemd installed?")
    # the machine's units, where the project did not install one of its own
    ours = os.path.join(root, UNIT_DIR)
    for name in os.listdir(HOST_UNIT_DIR):
        src = os.path.join(HOST_UNIT_DIR, name)
        dst = os.path.join(ours, name)
        if os.path.lexists(dst):
            continue
        if os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
    return root


def main(h):
    root = make_root(h.tmp)
    man_dir = os.path.join(root, "usr", "share", "man")
    env = subprocess_env(MANPATH=man_dir)
    env.pop("MANOPT", None)
    paths = [os.path.join(root, UNIT_DIR, u) for u in UNITS]
    for p in paths:
        check(os.path.isfile(p), f"{os.path.relpath(p, root)} is not installed")
    rc, out, err = run_process(["systemd-analyze", "verify", f"--root={root}", *paths],
                               timeout=60, env=env)
    output = (out + err).strip()
    check(rc == 0 and output == "",
          f"systemd-analyze verify exited {rc} with output:\n{output}")

    # the same through the name dbus-daemon asks systemd for
    alias = os.path.join(root, UNIT_DIR, "dbus-org.devauth.DeviceAuth1.service")
    rc, out, err = run_process(["systemd-analyze", "verify", f"--root={root}", alias],
                               timeout=60, env=env)
    output = (out + err).strip()
    check(rc == 0 and output == "",
          f"systemd-analyze verify of the bus alias exited {rc} with output:\n{output}")

    # the check is not blind: a typo and a missing man page are reported
    with open(os.path.join(root, UNIT_DIR, "devauthd.service")) as f:
        text = f.read()
    check("\nProtectHome=yes\n" in text, "devauthd.service has no ProtectHome=yes line")
    broken = os.path.join(root, UNIT_DIR, "devauthd-broken.service")
    with open(broken, "w") as f:
        f.write(text.replace("\nProtectHome=yes\n", "\nProtectHom=yes\n")
                .replace("man:devauthd(8)", "man:devauthd-nonexistent(8)"))
    rc, out, err = run_process(["systemd-analyze", "verify", f"--root={root}", broken],
                               timeout=60, env=env)
    output = out + err
    check("ProtectHom" in output and "devauthd-nonexistent" in output,
          f"verify did not report a typo and a missing man page:\n{output}")

if __name__ == "__main__":
    systest.run(main)
