#!/usr/bin/python3
"""`devauthctl wait`, as devauth-wait-online.service runs it at boot.

- blocks while the account is signed out, returns 0 once a sign-in is
  approved (the IdP's /_test/approve), and at once when already signed in;
- exits 6 when --timeout expires, naming the account;
- with several accounts named, returns only when all of them are signed in;
  without names, waits for every account;
- an unknown account is an error (1), not an endless wait.
"""

import time

import systest
from systest import check, check_equal, harness


def still_waiting(h, proc, what, seconds=1.0):
    time.sleep(seconds)
    check(proc.poll() is None, f"devauthctl wait returned {proc.poll()} {what}")


def main(h):
    h.start_idp("--interval", "1")
    issuer = h.idp.issuer
    h.start_daemon(accounts={name: harness.account_conf(issuer)
                             for name in ("alpha", "beta", "gamma")})

    # timeout: exit 6 after about --timeout seconds, naming the account
    t0 = time.monotonic()
    rc, out, err = h.ctl("wait", "--timeout", "1", "alpha", timeout=20)
    elapsed = time.monotonic() - t0
    check_equal(rc, 6, f"devauthctl wait --timeout 1 exit status ({err!r})")
    check(0.9 <= elapsed < 5, f"devauthctl wait --timeout 1 took {elapsed:.1f} s")
    check("alpha" in err, f"the timeout message does not name the account: {err!r}")
    check_equal(out, "", "stdout of a timed out wait")

    rc, out, err = h.ctl("wait", "--timeout", "5", "nosuchaccount", timeout=20)
    check_equal(rc, 1, f"devauthctl wait for an unknown account ({err!r})")

    # one account: blocks, then returns 0 when the sign-in is approved
    proc, wout, werr = h.ctl_start("wait", "--timeout", "60", "alpha")
    h.bus.wait_match_rules(proc.pid, 1)
    still_waiting(h, proc, "while alpha is signed out")
    h.sign_in(sub="alice", account="alpha")
    rc = proc.wait(10)
    check_equal(rc, 0, f"devauthctl wait alpha after the sign-in ({werr.text()!r})")

    # already signed in: at once
    t0 = time.monotonic()
    rc, _, err = h.ctl("wait", "--timeout", "30", "alpha", timeout=20)
    check_equal(rc, 0, f"devauthctl wait for a signed-in account ({err!r})")
    check(time.monotonic() - t0 < 3, "devauthctl wait for a signed-in account did not return at once")

    # several named accounts: returns only when the last of them is signed in
    proc, wout, werr = h.ctl_start("wait", "--timeout", "60", "alpha", "beta", "gamma")
    h.bus.wait_match_rules(proc.pid, 1)
    still_waiting(h, proc, "with beta and gamma signed out")
    h.sign_in(sub="bob", account="beta")
    still_waiting(h, proc, "with gamma signed out")
    # and every account, without names
    every, _, every_err = h.ctl_start("wait", "--timeout", "60")
    h.bus.wait_match_rules(every.pid, 1)
    still_waiting(h, every, "(every account) with gamma signed out", 0.2)
    h.sign_in(sub="carol", account="gamma")
    rc = proc.wait(10)
    check_equal(rc, 0, f"devauthctl wait alpha beta gamma ({werr.text()!r})")
    rc = every.wait(10)
    check_equal(rc, 0, f"devauthctl wait (every account) ({every_err.text()!r})")

    # a timeout while some named accounts are signed in names only the others
    h.logout("beta")
    rc, _, err = h.ctl("wait", "--timeout", "1", "alpha", "beta", timeout=20)
    check_equal(rc, 6, f"devauthctl wait alpha beta with beta signed out ({err!r})")
    check("beta" in err and "alpha" not in err, f"the timeout message: {err!r}")


if __name__ == "__main__":
    systest.run(main)
