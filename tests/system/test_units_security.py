#!/usr/bin/python3
"""`systemd-analyze security --offline=true` of the installed devauthd.service:
overall exposure at most 2.0, and nothing printed on stderr (unknown keys,
bad values)."""

import os
import re

import systest
from systest import check, run_process, subprocess_env

MAX_EXPOSURE = 2.0


def main(h):
    root = os.path.join(h.tmp, "root")
    systest.staged_install(root)
    rc, out, err = run_process(
        ["systemd-analyze", "security", "--offline=true", f"--root={root}", "--no-pager",
         "devauthd.service"], timeout=60, env=subprocess_env())
    check(err.strip() == "", f"systemd-analyze security printed on stderr:\n{err}")
    m = re.search(r"Overall exposure level for devauthd\.service: (\d+(?:\.\d+)?)", out)
    check(m is not None, f"no overall exposure level in (exit {rc}):\n{out}")
    exposure = float(m.group(1))
    print(f"exposure {exposure}")
    check(exposure <= MAX_EXPOSURE,
          f"exposure {exposure} > {MAX_EXPOSURE}:\n" +
          "\n".join(line for line in out.splitlines() if line.startswith("✗")))
    check(rc == 0, f"systemd-analyze security exited {rc}")


if __name__ == "__main__":
    systest.run(main)
