"""devauthd's wire names, read from common/da-names.h.

The header is the one list of the names that devauthd, devauthctl and the
tests use on D-Bus and Varlink; this module reads its object-like #defines
(string literals, and earlier names, pasted together) so that the tests
spell no name of their own. `BUS_NAME`, `MANAGER_INTERFACE`, ... are the
header's names without their `DA_` prefix; `dbus_error(name)` and
`varlink_error(name)` build the error names as DA_DBUS_ERROR() and
DA_VARLINK_ERROR() do.
"""

import os
import re

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "common", "da-names.h")

_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*))')


def _read(path):
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S).replace("\\\n", " ")
    names = {}
    for line in text.splitlines():
        m = re.match(r"\s*#\s*define\s+([A-Za-z_]\w*)(\(?)(.*)$", line)
        if not m or m.group(2):  # function-like macros are rebuilt below
            continue
        rest, value = m.group(3), ""
        while rest.strip():
            t = _TOKEN.match(rest)
            if not t:
                raise ValueError(f"{path}: cannot read the value of {m.group(1)}: {rest!r}")
            if t.group(2) is not None:
                value += names[t.group(2)]
            else:
                value += t.group(1).encode().decode("unicode_escape")
            rest = rest[t.end():]
        names[m.group(1)] = value
    return names


NAMES = _read(HEADER)
globals().update({k[len("DA_"):]: v for k, v in NAMES.items() if k.startswith("DA_")})

# every error name devauthd may send, without its prefix
ERROR_NAMES = sorted(v for k, v in NAMES.items() if k.startswith("DA_ERROR_NAME_"))


def dbus_error(name):
    return DBUS_ERROR_PREFIX + name  # noqa: F821 (from the header)


def varlink_error(name):
    return VARLINK_INTERFACE + "." + name  # noqa: F821 (from the header)
