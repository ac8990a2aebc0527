#!/usr/bin/python3
"""The boot test: devauthd installed on a Debian 12 system that boots under a
real systemd (systemd-nspawn --boot), with a real system bus and polkitd.

The host side (this file):
- the root file system from rootfs.py (built once, cached), the staged
  installation (prefix /usr) and a layer of test files, stacked in an
  overlay mount: the cached tree is never written to;
- the IdP (tests/idp) on the host's loopback: the container shares the
  host's network namespace (no --private-network), so devauthd reaches it
  at 127.0.0.1 as it would a real issuer;
- boots the container with a hard time limit, approves the sign-in through
  the IdP's /_test/approve as soon as the container publishes the user code
  in the shared report directory, and asserts on the results and on what
  the IdP saw (one device authorization, no refresh, no second sign-in).

The container side is boot/devauth-boot-test.sh (see there for the list of
checks), run by boot/devauth-boot-test.service after multi-user.target; it
ends the container through SuccessAction=/FailureAction=exit.

The storage key is provided as in production, as an encrypted credential:
the script seals a random key with `systemd-creds encrypt` (the container's
host key; a container has no TPM) into /etc/credstore.encrypted, where the
unit's LoadCredentialEncrypted=devauthd.storage-key finds it.

Keyrings: without --private-users the container's users are the host's
users, so devauthd's user keyring inside is that of the same uid on the
host. The keyring has a name of its own per run (KeyringName=) and is
unlinked by the script and, failing that, here.
"""

import os
import shutil
import signal
import subprocess
import time
import uuid

import systest  # first: it makes the harness importable
import rootfs  # noqa: E402
from systest import check, check_equal, harness, run_process

BOOT_DIR = os.path.join(systest.HERE, "boot")
BOOT_TIMEOUT = 180  # seconds from systemd-nspawn's start to its exit
ACCOUNT = "device"


def descendants(pid):
    """Every process under pid (from /proc), deepest first."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo and len(out) < 10000:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return list(reversed(out))


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def make_test_layer(layer, issuer, keyring_name):
    """The files the test adds to the installed system."""
    def src(name):
        with open(os.path.join(BOOT_DIR, name)) as f:
            return f.read()

    os.makedirs(layer, mode=0o755)
    write(os.path.join(layer, "etc/devauthd/devauthd.conf"),
          f"[Daemon]\nKeyringName={keyring_name}\nHttpTimeoutSec=10\n")
    write(os.path.join(layer, f"etc/devauthd/accounts.d/{ACCOUNT}.conf"),
          harness.account_conf(issuer, extra={"AutoLogin": "yes"}))
    units = os.path.join(layer, "etc/systemd/system")
    write(os.path.join(units, "devauth-boot-test.service"), src("devauth-boot-test.service"))
    write(os.path.join(units, "devauth-consumer.service"), src("devauth-consumer.service"))
    wants = os.path.join(units, "multi-user.target.wants")
    os.makedirs(wants, mode=0o755)
    os.symlink("/etc/systemd/system/devauth-boot-test.service",
               os.path.join(wants, "devauth-boot-test.service"))
    write(os.path.join(layer, "usr/local/libexec/devauth-boot-test"),
          src("devauth-boot-test.sh"), mode=0o755)
    write(os.path.join(layer, "etc/sysusers.d/devauth-boot-test.conf"),
          src("devauth-boot-test.sysusers"))
    write(os.path.join(layer, "etc/polkit-1/rules.d/50-devauth-boot-test.rules"),
          src("50-devauth-boot-test.rules"))
    for d in ("etc", "etc/devauthd", "etc/devauthd/accounts.d", "etc/systemd",
              "etc/polkit-1", "etc/polkit-1/rules.d", "etc/sysusers.d", "usr", "usr/local",
              "usr/local/libexec"):
        os.chmod(os.path.join(layer, d), 0o755)
    # polkitd reads its rules as the polkitd user
    os.chmod(os.path.join(layer, "etc/polkit-1/rules.d"), 0o755)


class Overlay:
    def __init__(self, h, lowers):
        self.merged = os.path.join(h.tmp, "merged")
        self.upper = os.path.join(h.tmp, "upper")
        work = os.path.join(h.tmp, "work")
        for d in (self.merged, self.upper, work):
            os.makedirs(d)
        os.chmod(self.merged, 0o755)
        rc, out, err = run_process(
            ["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={':'.join(lowers)},upperdir={self.upper},workdir={work}",
             self.merged], timeout=30)
        check(rc == 0, f"cannot mount the overlay: {err}")
        self.mounted = True
        h.add_cleanup(self.unmount)
        systest.on_emergency(lambda: subprocess.run(["umount", "--lazy", self.merged],
                                                    timeout=10, check=False))

    def unmount(self):
        if not self.mounted:
            return
        for _ in range(20):
            rc, _, err = run_process(["umount", self.merged], timeout=30)
            if rc == 0:
                self.mounted = False
                return
            time.sleep(0.25)
        run_process(["umount", "--lazy", self.merged], timeout=30)
        self.mounted = False
        raise systest.TestFailure(f"{self.merged} was busy: unmounted lazily ({err})")


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                pass
    return out


class Container:
    """systemd-nspawn --boot. Killing nspawn does not end the container
    (its init is not bound to nspawn's life), so the init's PID is kept and
    killed as well; should the test die without any cleanup, the test unit
    ends the container by itself (JobTimeoutSec=, TimeoutStartSec=)."""

    def __init__(self, h, root, report, machine):
        self.log_path = os.path.join(h.tmp, "nspawn.log")
        self.init_pid = None
        argv = ["systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit",
                "--system-call-filter=@keyring", f"--directory={root}",
                f"--machine={machine}", f"--bind={report}:/report", "--link-journal=no",
                "--console=read-only", "--resolv-conf=off", "--timezone=off",
                "--setenv=SYSTEMD_COLORS=0"]
        env = systest.subprocess_env()
        for var in ("NOTIFY_SOCKET", "DBUS_SYSTEM_BUS_ADDRESS", "LISTEN_FDS", "LISTEN_PID"):
            env.pop(var, None)
        with open(self.log_path, "w") as log:
            self.proc = harness.Process("systemd-nspawn", argv, env=env, stdout=log,
                                        stderr=subprocess.STDOUT)
        self.start = time.monotonic()
        h.add_cleanup(self.kill)
        systest.on_emergency(self.kill_init)

        def init():
            if self.proc.poll() is not None:
                raise systest.TestFailure(
                    f"systemd-nspawn exited with {self.proc.poll()}:\n{self.log()}")
            for pid in children(self.proc.pid):
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() == "systemd":
                            return pid
                except OSError:
                    pass
            return None

        self.init_pid = systest.wait_until(init, 30, "the container's systemd to start")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def kill_init(self):
        """SIGKILL to the container's PID 1 ends every process in it."""
        if self.init_pid is None:
            return
        try:
            with open(f"/proc/{self.init_pid}/comm") as f:
                alive = f.read().strip() == "systemd"
        except OSError:
            alive = False
        if alive:
            os.kill(self.init_pid, signal.SIGKILL)
        self.init_pid = None

    def kill(self):
        """Ends the container, politely first: SIGTERM makes nspawn halt it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.proc.wait(15) is None:
                self.kill_init()
                for pid in descendants(self.proc.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self.kill_init()
        self.proc.stop(signal.SIGKILL, timeout=10)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def uid_of(passwd_path, user):
    for line in read(passwd_path).splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2])
    return None


def unlink_keyring(uid, name):
    """Unlinks the test's keyring from uid's user keyring (the same on the
    host as in the container). True when there was one."""
    as_uid = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    rc, out, _ = run_process(as_uid + ["keyctl", "search", "@u", "keyring", name], timeout=10)
    if rc != 0:
        return False
    run_process(as_uid + ["keyctl", "unlink", out.strip(), "@u"], timeout=10)
    return True


def main(h):
    for tool in ("systemd-nspawn", "mmdebstrap", "keyctl", "setpriv"):
        check(shutil.which(tool) is not None, f"{tool} is missing (tools/setup-deps)")
    t0 = time.monotonic()
    base = rootfs.ensure()
    t_rootfs = time.monotonic() - t0
    staged = systest.staged_install(os.path.join(h.tmp, "staged"))
    t_staged = time.monotonic() - t0 - t_rootfs

    h.start_idp("--interval", "1")
    keyring_name = f"devauthd-boot-{uuid.uuid4().hex[:12]}"
    layer = os.path.join(h.tmp, "layer")
    make_test_layer(layer, h.idp.issuer, keyring_name)
    overlay = Overlay(h, [layer, staged, base])
    report = os.path.join(h.tmp, "report")
    os.makedirs(report, mode=0o755)

    def keyring_cleanup():
        uid = uid_of(os.path.join(overlay.upper, "etc/passwd"), "devauthd")
        if uid is not None and unlink_keyring(uid, keyring_name):
            print(f"unlinked keyring {keyring_name} of uid {uid} left by the container")
    h.add_cleanup(keyring_cleanup)
    systest.on_emergency(keyring_cleanup)

    def diagnostics():
        parts = [f"---- {name} ----\n{read(os.path.join(report, name))[-limit:]}"
                 for name, limit in (("results", 5000), ("status.txt", 8000),
                                     ("journal.txt", 30000))]
        parts.append(f"---- systemd-nspawn output ----\n{container.log()[-8000:]}")
        return "\n".join(parts)

    t_boot = time.monotonic()
    container = Container(h, overlay.merged, report, f"devauth-boot-{uuid.uuid4().hex[:8]}")
    user_code_path = os.path.join(report, "user-code")
    approved = False
    deadline = container.start + BOOT_TIMEOUT
    while container.proc.poll() is None:
        if time.monotonic() > deadline:
            container.kill()
            raise systest.TestFailure(
                f"the container did not finish within {BOOT_TIMEOUT} s\n" + diagnostics())
        if not approved and os.path.exists(user_code_path):
            code = read(user_code_path).strip()
            h.idp.approve(code, sub="device-owner")
            approved = True
            t_approved = time.monotonic()
        time.sleep(0.1)
    rc = container.proc.wait(10)
    t_done = time.monotonic()
    container.proc.stop()

    results = read(os.path.join(report, "results"))
    print(results, end="")
    status = read(os.path.join(report, "status")).strip()
    check(status == "PASSED" and "FAIL" not in results,
          f"the checks in the container failed (systemd-nspawn exited {rc})\n" + diagnostics())
    check_equal(rc, 0, "systemd-nspawn's exit status (the test unit's, through SuccessAction=exit)")
    check(approved, "the container never published a user code")

    # what the IdP saw: one sign-in (AutoLogin's; Login() joined it), no
    # second one and no refresh after the restart, the logout's revocation
    stats = h.idp.stats()
    counters = stats["counters"]
    check_equal(counters["device_authorization"], 1, "device authorizations at the IdP")
    token_polls = [p["result"] for p in stats["polls"] if p["result"] == "tokens"]
    check_equal(len(token_polls), 1, "device code polls answered with tokens")
    check_equal(counters["token_refresh"], 0, "refreshes at the IdP")
    check(counters["revocation"] >= 1, "no revocation at the IdP (the logout)")
    print(f"root file system {t_rootfs:.1f} s, staged install {t_staged:.1f} s, "
          f"boot to approval {t_approved - t_boot:.1f} s, whole container run "
          f"{t_done - t_boot:.1f} s")


if __name__ == "__main__":
    systest.run(main)
