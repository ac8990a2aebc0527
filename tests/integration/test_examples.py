"""The example apps of examples/ against the test IdP: the C app (GDBus,
GetTokenFd, libsoup) and the Python app (gi), each with the [Access] lines
of examples/access.conf, run in the cgroup of its own unit as a user that
has no other right to the account."""

import os
import subprocess

import harness
from harness import (Cgroup, Process, as_user, check, check_equal, ensure_test_user,
                     env_path)
from test_access import polkit_world

NOBODY = "nobody"
EXAMPLES = os.path.join(harness.SOURCE_ROOT, "examples")


def access_lines():
    """The [Access] keys of examples/access.conf, as polkit_world takes them."""
    allow = {}
    with open(os.path.join(EXAMPLES, "access.conf")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")):
                key, _, value = line.partition("=")
                allow[key] = value
    return allow


def run_app(h, argv, cgroup=None, timeout=60):
    """ARGV as nobody (in CGROUP, when given, before it runs): (exit
    status, stdout, stderr)."""
    script = 'read go; exec "$@"'
    # GSettings (glib-networking's proxy resolver) in memory: nobody has no
    # home of its own here
    env = dict(h.ctl_env(), GSETTINGS_BACKEND="memory")
    proc = Process("example", [*as_user(NOBODY), "/bin/sh", "-c", script, "sh", *argv],
                   env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    h.add_cleanup(lambda: proc.stop(9))
    if cgroup is not None:
        cgroup.add(proc.pid)
    try:
        out, err = proc.popen.communicate(b"go\n", timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.stop(9)
        raise harness.TestFailure(f"{argv[0]} did not finish within {timeout} s")
    return proc.popen.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def apps():
    return {
        "devauth-example-userinfo.service": [env_path("DEVAUTH_EXAMPLE_USERINFO")],
        "devauth-example-userinfo-python.service":
            ["/usr/bin/python3", os.path.join(EXAMPLES, "python", "devauth-example-userinfo.py")],
    }


def test_userinfo(h):
    """Each app, in the cgroup of its unit (the unit files of examples/),
    prints the person signed in on the device, from the IdP's userinfo
    with the token devauthd gave it; the same app outside the unit is
    refused and says so (PermissionDenied), as is an account it does not
    name."""
    ensure_test_user()
    allow = access_lines()
    units = apps()
    check_equal(sorted(allow.get("AllowUnits", "").split()), sorted(units),
                "the units of examples/access.conf")
    for unit in units:
        check(os.path.exists(os.path.join(EXAMPLES, "c" if "python" not in unit else "python",
                                          unit)), f"examples/ has no {unit}")
    polkit_world(h, {}, **allow)
    h.sign_in(account="demo", sub="rita")
    userinfo = h.idp.discovery()["userinfo_endpoint"]
    for unit, argv in units.items():
        cgroup = Cgroup(h, f"system.slice/{unit}")
        rc, out, err = run_app(h, [*argv, userinfo, "demo"], cgroup)
        print(f"{unit}: {out.strip()} {err.strip()}")
        check_equal(rc, 0, f"{unit}: exit status ({err.strip()})")
        check(out.startswith("signed in as rita (subject rita)"), f"{unit}: printed {out!r}")
        rc, out, err = run_app(h, [*argv, userinfo, "demo"])
        print(f"outside {unit}: {err.strip()}")
        check_equal(rc, 1, f"outside {unit}: exit status ({out}{err})")
        check_equal(err.strip(), "no token from devauthd: not authorized to get a token for "
                    "account 'demo' (PermissionDenied)", f"outside {unit}: the message")
        rc, out, err = run_app(h, [*argv, userinfo, "nosuch"], cgroup)
        check_equal(rc, 1, f"{unit}, another account: exit status ({out}{err})")
        check("(NoSuchAccount)" in err, f"{unit}, another account: the message {err!r}")
        cgroup.remove()
