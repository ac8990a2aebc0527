#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""devauthd.conf(5) lists every configuration key that devauthd reads, and
no key that it does not: the keys read are those of daemon/da-config*.c
(the account key table and the g_key_file_get_*() calls of devauthd.conf),
the keys documented those of the page's ".B Key=" lines. Prints both
differences and exits 1 when there is one."""

import glob
import os
import re
import sys

top = os.environ.get("SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")
read = set()
for path in glob.glob(os.path.join(top, "daemon", "da-config*.c")):
    with open(path) as f:
        text = f.read()
    # {"Account", "Issuer", ...} in a key table; g_key_file_get_string (kf, "Daemon", "X"
    read.update(re.findall(r'\{"(?:Account|Access|Daemon)", "([A-Za-z]+)"', text))
    read.update(re.findall(r'g_key_file_get_\w+ \(kf, "(?:Account|Access|Daemon)", "([A-Za-z]+)"',
                           text))
with open(os.path.join(top, "docs", "devauthd.conf.5")) as f:
    documented = set()
    for line in f:
        if line.startswith(".B ") and "=" in line:
            documented.update(re.findall(r"([A-Za-z]+)=", line))
if not read:
    print("no keys found in daemon/da-config*.c: the patterns are out of date")
    sys.exit(1)
missing = sorted(read - documented)
unknown = sorted(documented - read)
for key in missing:
    print(f"devauthd reads {key}= and devauthd.conf(5) does not document it")
for key in unknown:
    print(f"devauthd.conf(5) documents {key}=, which devauthd does not read")
print(f"{len(read)} keys read, {len(documented)} documented")
sys.exit(1 if missing or unknown else 0)
