#!/usr/bin/python3
"""devauthd benchmarks: run by bench/run, which builds first.

Every number is measured against a baseline in the same run (the machine is
shared and noisy): latencies and throughputs against a bare GDBus service on
the same private bus (bench-floor), interleaved round by round; the CLI
against oidc-agent's oidc-token; start-up against bench-floor's. Writes
bench/RESULTS.md (and bench/results.json with the raw figures).

Sections (each can be skipped for a quick look with --only a,b,...):
  transport   GetToken / GetTokenFd latency and throughput vs the floor
  cli         devauthctl token vs oidc-token (hyperfine)
  singleflight  50 concurrent callers on an expiring token
  startup     exec -> READY=1 vs the floor's exec -> name acquired
  memory      smaps_rollup: 1 account, 1000 accounts, oidc-agent
  idpload     polls per login, refreshes per lifetime, 1000 accounts' spread
  keycloak    devauthd and oidc-agent side by side against the real Keycloak
              (tests/keycloak): cached token, forced refresh, requests per
              sign-in and per hour of an idle device
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
from benchlib import harness, log, median  # noqa: E402

DAEMON_NAME = harness.BUS_NAME
SECRET = "bench-client-secret"
FAST = {"TokenRequestsPerSecond": "1000000"}
THROUGHPUT_ROUNDS = 6
THROUGHPUT_SECONDS = 2

R = {"machine": {}, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
EVERYTHING = ("transport", "cli", "singleflight", "startup", "memory", "idpload", "keycloak")


# ---------------------------------------------------------------- helpers


def secret_account(h, issuer, name="demo"):
    path = os.path.join(h.tmp, "client-secret")
    if not os.path.exists(path):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(SECRET)
    return harness.account_conf(issuer, extra={"ClientSecretFile": path})


def device_flow_refresh_token(idp, sub="oidc-agent-user"):
    """A refresh token for another client program (oidc-agent), got with
    the device flow straight at the IdP, approved with /_test/approve."""
    disc = idp.discovery()
    status, body = idp.http("POST", disc["device_authorization_endpoint"],
                            form={"client_id": "devauth-demo", "client_secret": SECRET,
                                  "scope": "openid offline_access"})
    harness.check(status == 200, f"device authorization: {status} {body}")
    idp.approve(body["user_code"], sub=sub)
    for _ in range(20):
        status, tokens = idp.http("POST", disc["token_endpoint"], form={
            "client_id": "devauth-demo", "client_secret": SECRET,
            "grant_type": harness.DEVICE_GRANT, "device_code": body["device_code"]})
        if status == 200:
            return tokens["refresh_token"]
        time.sleep(1.1)
    raise harness.TestFailure(f"no tokens for oidc-agent: {tokens}")


def smaps_breakdown(pid, top=8):
    """Private_Dirty by mapping (KiB), largest first."""
    sizes = {}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                name = m.group(1).strip() or "[anon]"
                name = os.path.basename(name) if name.startswith("/") else name
                continue
            if line.startswith("Private_Dirty:"):
                sizes[name] = sizes.get(name, 0) + int(line.split()[1])
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:top]


class OidcAgent:
    """oidc-agent on the console (no daemon), its config in a temp dir.
    With idp (the loopback oidc-provider), account "bench" is made from a
    refresh token; without, accounts are added with add_device()."""

    def __init__(self, h, idp=None):
        self.dir = os.path.join(h.tmp, "oidc-agent")
        os.makedirs(os.path.join(self.dir, "config"), mode=0o700)
        self.sock = os.path.join(self.dir, "agent.sock")
        self.env = dict(os.environ, HOME=self.dir, OIDC_CONFIG_DIR=os.path.join(self.dir, "config"),
                        OIDC_SOCK=self.sock, OIDC_ENCRYPTION_PW="bench-password")
        logf = open(os.path.join(self.dir, "agent.log"), "w")
        self.proc = harness.Process(
            "oidc-agent", ["oidc-agent", "--console", f"--socket-path={self.sock}",
                           "--no-autoload", "--no-webserver"],
            env=self.env, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        h.add_cleanup(self.proc.stop)
        B.wait_until(lambda: os.path.exists(self.sock), 10, "oidc-agent's socket")
        if idp is None:
            return
        rt = device_flow_refresh_token(idp)
        rc, out, err = harness.run_process(
            ["oidc-gen", f"--iss={idp.issuer}", "--client-id=devauth-demo",
             f"--client-secret={SECRET}", f"--rt={rt}", "--scope=openid offline_access",
             "--pw-env", "--no-url-call", "--no-webserver", "--confirm-default",
             "--prompt=none", "bench"], timeout=60, env=self.env)
        harness.check(rc == 0 and "success" in out + err, f"oidc-gen failed ({rc}): {out} {err}")

    def pids(self):
        return [self.proc.pid] + B.children_of(self.proc.pid)

    def token(self, account="bench", *options):
        rc, out, err = harness.run_process(["oidc-token", *options, account], timeout=20,
                                           env=self.env)
        harness.check(rc == 0, f"oidc-token: {err}")
        return out.strip()

    def add_device(self, name, issuer, client_id, secret, approve, scope="openid offline_access",
                   timeout=90):
        """oidc-gen with the device flow: approve(verification_uri, user_code)
        is called with what oidc-gen shows (the URL and the code to type;
        it shows no verification_uri_complete). Returns the monotonic times
        (started, code shown, oidc-gen done)."""
        t0 = time.monotonic()
        proc = harness.Process(
            "oidc-gen", ["oidc-gen", f"--iss={issuer}", f"--client-id={client_id}",
                         f"--client-secret={secret}", "--flow=device", f"--scope={scope}",
                         "--pw-env", "--no-url-call", "--no-webserver", "--confirm-default",
                         "--prompt=none", name],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out = harness.OutputReader(proc.popen.stdout)
            uri = out.wait_for(r"(http://\S+/device)\s", 30, "oidc-gen's verification URL").group(1)
            code = out.wait_for(r"enter the code:\s*(\S+)", 10, "oidc-gen's user code").group(1)
            t_code = time.monotonic()
            approve(uri, code)
            rc = proc.wait(timeout)
            text = out.text()
            harness.check(rc == 0 and "setup correctly" in text,
                          f"oidc-gen {name} failed ({rc}): {text[-2000:]}")
        finally:
            proc.stop(signal.SIGKILL)
        return t0, t_code, time.monotonic()


# ---------------------------------------------------------------- sections


def transport(h, rounds, count):
    token, info = h.get_token()
    floor = B.start_floor(h, len(token), info.get("scope"), info["expires-at"])
    out = {"token_bytes": len(token), "rounds": rounds, "count": count,
           "latency": {}, "throughput": {}}
    for method in ("GetToken", "GetTokenFd"):
        per = {"floor": [], "devauthd": []}
        for r in range(rounds):
            # one client alternates its calls between the two, call by call
            res = B.bench_client(h, "latency", "--dest", B.FLOOR_NAME, "--dest2", DAEMON_NAME,
                                 "--method", method, "--count", str(count), "--warmup", "300")
            harness.check(res["errors"] == 0, f"{method}: {res}")
            per["floor"].append(res["results"][0])
            per["devauthd"].append(res["results"][1])
        out["latency"][method] = per
        log(method, "p50 floor", [round(x["p50_us"]) for x in per["floor"]],
            "devauthd", [round(x["p50_us"]) for x in per["devauthd"]])
    for clients in (1, 8, 64):
        per = {"floor": [], "devauthd": []}
        for r in range(THROUGHPUT_ROUNDS):
            order = [("floor", B.FLOOR_NAME), ("devauthd", DAEMON_NAME)]
            if r % 2:
                order.reverse()
            for who, dest in order:
                res = B.bench_client(h, "throughput", "--dest", dest, "--clients", str(clients),
                                     "--seconds", str(THROUGHPUT_SECONDS))
                harness.check(res["errors"] == 0, f"{who} throughput: {res}")
                per[who].append(res)
        out["throughput"][str(clients)] = per
        log("throughput", clients, {k: [round(x["calls_per_s"]) for x in v] for k, v in per.items()})
    floor.stop()
    return out


def hyperfine_rounds(cmds, runs, result_file, env, rounds=3):
    """hyperfine over CMDS (name → command line), ROUNDS rounds in alternating
    order; per name, one {mean,median,stddev,min}_ms record a round."""
    results = {k: [] for k in cmds}
    for r in range(rounds):
        order = list(cmds) if r % 2 == 0 else list(reversed(list(cmds)))
        rc, out, err = harness.run_process(
            ["hyperfine", "-N", "--style", "none", "--warmup", "20", "--runs", str(runs),
             "--export-json", result_file, *[cmds[k] for k in order]], timeout=600, env=env)
        harness.check(rc == 0, f"hyperfine failed: {err}")
        with open(result_file) as f:
            data = json.load(f)
        for k, res in zip(order, data["results"]):
            results[k].append({"mean_ms": res["mean"] * 1000, "median_ms": res["median"] * 1000,
                               "stddev_ms": res["stddev"] * 1000, "min_ms": res["min"] * 1000})
    return results


def cli(h, agent, runs):
    token, _ = h.get_token()
    rc, out, err = h.ctl("token")
    harness.check(rc == 0 and out.strip() == token, f"devauthctl token: {rc} {err}")
    harness.check(agent.token() != "", "oidc-token printed nothing")
    h.idp.reset_stats()
    result_file = os.path.join(h.tmp, "hyperfine.json")
    # devauthctl token asks devauthd's Varlink socket; devauthctl-bus (what
    # devauthctl runs for the other verbs) calls GetTokenFd on the bus
    env = dict(agent.env, DBUS_SYSTEM_BUS_ADDRESS=h.bus.address, LC_ALL="C.UTF-8",
               DEVAUTH_VARLINK_SOCKET=h.daemon.varlink_socket)
    env.pop("G_MESSAGES_DEBUG", None)
    token_info = h.get_token()[1]
    floor = B.start_floor(h, len(token), token_info.get("scope"), token_info["expires-at"])
    cmds = {"devauthctl": f"{B.exe('devauthctl')} token", "oidc-token": "oidc-token bench",
            "devauthctl-bus": f"{B.exe('devauthctl-bus')} token",
            "bench-cli-gdbus": B.exe("bench-cli-gdbus"), "bench-cli-sdbus": B.exe("bench-cli-sdbus"),
            "bench-cli-sdbus-floor": f"{B.exe('bench-cli-sdbus')} {B.FLOOR_NAME}"}
    for name in ("bench-cli-gdbus", "bench-cli-sdbus", "devauthctl-bus"):
        rc, out, err = harness.run_process(cmds[name].split(), timeout=20, env=dict(
            os.environ, DBUS_SYSTEM_BUS_ADDRESS=h.bus.address))
        harness.check(rc == 0 and out.strip() == token, f"{name}: {rc} {err}")
    results = hyperfine_rounds(cmds, runs, result_file, env)
    floor.stop()
    stats = h.idp.stats()["counters"]
    log("cli", {k: [round(x["median_ms"], 2) for x in v] for k, v in results.items()})
    return {"runs": runs, "results": results, "idp_requests_during": stats}


def singleflight(clients=50, ttl=60):
    """50 callers released together on a token about to expire: the IdP
    issues 60 s tokens; 33 s after sign-in the token has 27 s left, less
    than the callers' default min-validity (30 s), and the proactive refresh
    (at ~75 % of the life, jitter −10 %) has not come yet. Every caller
    needs a refresh; one fresh token satisfies them all."""
    out = {"ttl": ttl}
    h = B.new_harness("bench-singleflight", extra_policy=None)
    try:
        h.start_idp("--interval", "1", "--access-ttl", str(ttl))
        h.start_bus()
        B.start_daemon(h, {"demo": harness.account_conf(h.idp.issuer)}, FAST)
        h.sign_in()
        _, info = h.get_token(min_validity=0)
        h.idp.reset_stats()
        wait = info["expires-at"] - 27 - time.time()
        time.sleep(max(0, wait))
        left = info["expires-at"] - time.time()
        harness.check(h.idp.stats()["counters"]["token_refresh"] == 0,
                      "a refresh came before the burst")
        res = B.bench_client(h, "burst", "--dest", DAEMON_NAME, "--clients", str(clients))
        stats = h.idp.stats()
        out["expiring"] = {"callers": clients, "ok": res["ok"], "errors": res["errors"],
                           "max_ms": res["max_ms"], "left_s": round(left, 1),
                           "refreshes": stats["counters"]["token_refresh"]}
        # and the fresh token: no refresh at all
        h.idp.reset_stats()
        res = B.bench_client(h, "burst", "--dest", DAEMON_NAME, "--clients", str(clients))
        stats = h.idp.stats()
        out["fresh"] = {"callers": clients, "ok": res["ok"], "errors": res["errors"],
                        "max_ms": res["max_ms"], "refreshes": stats["counters"]["token_refresh"]}
    finally:
        h.close()
    log("singleflight", out)
    return out


def startup(h, runs):
    token, info = h.get_token()
    d = h.daemon
    rc = d.stop()
    harness.check(rc == 0, f"devauthd exited {rc}")
    B.wait_until(lambda: h.bus.name_owner() is None, 10, "the name to be released")
    daemon_argv = [B.exe("devauthd"), "--config-dir", d.config_dir, "--state-dir", d.state_dir,
                   "--runtime-dir", d.runtime_dir]
    floor_argv = [B.exe("bench-floor"), "--name", B.FLOOR_NAME, "--token-size", str(len(token)),
                  "--scope", info.get("scope", ""), "--expires-at", str(info["expires-at"])]
    per = {"floor": [], "devauthd": [], "devauthd_netlink": []}
    # the third: devauthd told to use GIO's netlink network monitor directly
    # (without it GIO first tries NetworkManager over a bus connection of its own)
    envs = {"devauthd_netlink": {"GIO_USE_NETWORK_MONITOR": "netlink"}}
    blocks = 5
    for b in range(blocks):
        order = [("floor", floor_argv), ("devauthd", daemon_argv),
                 ("devauthd_netlink", daemon_argv)]
        order = order[b % 3:] + order[:b % 3]
        for who, argv in order:
            res = B.bench_client(h, "startup", "--runs", str(max(1, runs // blocks)),
                                 "--log", os.path.join(h.tmp, f"startup-{who}.log"), "--", *argv,
                                 extra_env=envs.get(who))
            harness.check(res["failures"] == 0, f"{who} start-up: {res}")
            per[who].extend(res["ms"])
    d.start()
    log("startup medians", {k: round(median(v), 1) for k, v in per.items()})
    return per


def memory_one(h):
    """devauthd freshly started, signed in from the keyring, one GetToken
    served, then idle; and after the benchmark load."""
    out = {}
    h.daemon.restart()
    h.get_token()
    time.sleep(2)
    pid = B.daemon_pid(h)
    out["idle_1"] = B.smaps(pid)
    out["idle_1_top"] = smaps_breakdown(pid)
    return out


TLS_WORLDS = (("http", "plain HTTP issuer"),
              ("ca_file", "HTTPS issuer, CAFile= (a throw-away CA)"),
              ("system", "HTTPS issuer, the system trust store (+ the throw-away CA)"))
TLS_REFRESHES = 5


def anon_summary(pid):
    """Private_Dirty (KiB) by kind of mapping: the main heap, anonymous
    mappings (thread arenas, large allocations, stacks), libgnutls and the
    other libraries' data, and the number of threads."""
    kinds = {"heap": 0, "anon": 0, "libgnutls": 0, "other": 0}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                path = m.group(1).strip()
                name = ("heap" if path == "[heap]" else "anon" if not path
                        else "libgnutls" if "libgnutls" in path else "other")
                continue
            if line.startswith("Private_Dirty:"):
                kinds[name] += int(line.split()[1])
    with open(f"/proc/{pid}/status") as f:
        kinds["threads"] = int(re.search(r"^Threads:\s+(\d+)", f.read(), re.M).group(1))
    return kinds


def memory_world(kind, extra_env=None, refreshes=TLS_REFRESHES, probe=None):
    """1 account, its issuer plain HTTP, or HTTPS behind the fault proxy
    with a certificate from a throw-away CA trusted by CAFile= or added to
    the system's store (a bind mount in a mount namespace of devauthd's
    own: the machine's store is not touched). devauthd started (quiet),
    signed in with the device flow, refreshed @refreshes times; then
    smaps_rollup and where the Private_Dirty is. probe(pid, stage), for a
    profile, is called at "started", "signed_in" and "after"."""
    from faultproxy import FaultProxy
    import certs
    h = B.new_harness(f"bench-mem-{kind}", extra_policy=None)
    try:
        h.start_idp("--interval", "1")
        issuer = h.idp.issuer
        extra = {}
        ca = None
        if kind != "http":
            ca = certs.Authority(h.tmp, "bench")
            proxy = FaultProxy(h.idp.origin, tls=ca.issue("leaf"))
            h.add_cleanup(proxy.stop)
            issuer = proxy.origin
            if kind == "ca_file":
                extra["CAFile"] = ca.cert
        h.start_bus()
        h.start_daemon({"demo": harness.account_conf(issuer, extra=extra)}, FAST, start=False)
        h.daemon.binary = B.quiet_daemon_wrapper(h)
        if kind == "system":
            h.daemon.wrapper = harness.unshared_ca_bundle(h, ca.cert)
        h.daemon.extra_env.update(extra_env or {})
        h.daemon.start()
        time.sleep(1)
        pid = B.daemon_pid(h)
        probe = probe or (lambda pid, stage: None)
        probe(pid, "started")
        out = {"started": B.smaps(pid)}
        h.sign_in()
        time.sleep(0.5)
        probe(pid, "signed_in")
        out["signed_in"] = B.smaps(pid)
        took = []
        for _ in range(refreshes):
            t0 = time.monotonic()
            h.refresh()
            took.append((time.monotonic() - t0) * 1000)
        out["refresh_ms"] = median(took)
        time.sleep(1)
        probe(pid, "after")
        out["after"] = B.smaps(pid)
        out["kinds"] = anon_summary(pid)
        out["top"] = smaps_breakdown(pid)
        out["refreshes"] = refreshes
    except BaseException:
        print(h.diagnostics(), file=sys.stderr)
        raise
    finally:
        problems = h.close()
        if problems:
            log("teardown problems:", problems)
    log("memory", kind, out["started"]["Private_Dirty"], "->", out["after"]["Private_Dirty"],
        "KiB", out["kinds"])
    return out


def memory_tls():
    """The three worlds one after the other in the same run: sign-in and
    refreshes over plain HTTP, over HTTPS with CAFile=, over HTTPS with
    the system's store."""
    return {"worlds": {kind: memory_world(kind) for kind, _ in TLS_WORLDS}}


def memory_agent(agent):
    per = {pid: B.smaps(pid) for pid in agent.pids()}
    total = {k: sum(v[k] for v in per.values()) for k in ("Rss", "Pss", "Private_Dirty")}
    return {"processes": per, "total": total}


def world_transport(args):
    out = {}
    h = B.new_harness("bench-transport")
    try:
        h.start_idp("--interval", "1", "--client-secret", SECRET)
        h.start_bus()
        B.start_daemon(h, {"demo": secret_account(h, h.idp.issuer)}, FAST)
        h.sign_in()
        if "memory" in args.only:
            out["memory"] = memory_one(h)
        if "transport" in args.only:
            out["transport"] = transport(h, args.rounds, args.count)
            out.setdefault("memory", {})["after_load_1"] = B.smaps(B.daemon_pid(h))
        agent = None
        if "cli" in args.only or "memory" in args.only:
            try:
                agent = OidcAgent(h, h.idp)
            except harness.TestFailure as e:
                out["oidc_agent_error"] = str(e)
                log("oidc-agent:", e)
        if agent is not None and "cli" in args.only:
            out["cli"] = cli(h, agent, args.cli_runs)
        if agent is not None and "memory" in args.only:
            agent.token()
            time.sleep(1)
            out.setdefault("memory", {})["oidc_agent"] = memory_agent(agent)
        if "startup" in args.only:
            out["startup"] = startup(h, args.startup_runs)
    except BaseException:
        print(h.diagnostics(), file=sys.stderr)
        raise
    finally:
        problems = h.close()
        if problems:
            log("teardown problems:", problems)
    return out


def polls_per_login(h, idp, account, interval, delays):
    rows = []
    for delay in delays:
        idp.reset_stats()
        since = h.mark()
        prompt = h.login(account)
        t0 = time.monotonic()
        time.sleep(delay)
        idp.approve(prompt["user-code"], sub=account)
        approved_after = time.monotonic() - t0
        h.wait_status("signed-in", account=account, since=since, timeout=30)
        time.sleep(interval + 0.5)  # a poll after the tokens would show here
        polls = idp.stats()["polls"]
        rows.append({"approval_s": round(approved_after, 2), "interval": interval,
                     "polls": len(polls), "results": [p["result"] for p in polls],
                     "expected": math.ceil(approved_after / interval)})
    log("polls", rows)
    return rows


def refresh_histogram(refresh_times, t0, t1, bin_s):
    bins = [0] * max(1, int(math.ceil((t1 - t0) / bin_s)))
    for t in refresh_times:
        i = int((t - t0) // bin_s)
        if 0 <= i < len(bins):
            bins[i] += 1
    return bins


def world_idpload(args):
    """IdP load: polls per approved login and refreshes per lifetime (one
    daemon, one IdP per lifetime), and 1000 accounts on one IdP (memory,
    spread of the refreshes). The two worlds overlap in time."""
    out = {}
    lifetimes = [6, 12, 24]
    hr = B.new_harness("bench-refresh-rate")
    hd = None
    try:
        idps = {}
        for L in lifetimes:
            idps[L] = hr.start_idp("--interval", "1", "--access-ttl", str(L))
        idp_polls = hr.start_idp("--interval", "2")
        hr.start_bus()
        accounts = {f"r{L}": harness.account_conf(idps[L].issuer) for L in lifetimes}
        accounts["p"] = harness.account_conf(idp_polls.issuer)
        B.start_daemon(hr, accounts, dict(FAST, DefaultAccount="p"))
        for L in lifetimes:
            since = hr.mark()
            prompt = hr.login(f"r{L}")
            idps[L].approve(prompt["user-code"])
            hr.wait_status("signed-in", account=f"r{L}", since=since)
            idps[L].reset_stats()
        rate_t0 = time.time()
        out["polls"] = polls_per_login(hr, idp_polls, "p", 2, [0.5, 3.0, 7.0])

        # 1000 accounts
        hd = B.new_harness("bench-1000")
        hd.start_idp("--interval", "1", "--access-ttl", str(args.spread_ttl))
        hd.start_bus()
        names = [f"a{i:04d}" for i in range(args.accounts)]
        B.start_daemon(hd, {n: harness.account_conf(hd.idp.issuer) for n in names}, FAST)
        time.sleep(2)
        pid = B.daemon_pid(hd)
        out["memory_many_signed_out"] = B.smaps(pid)
        out["memory_many_signed_out_top"] = smaps_breakdown(pid)
        t_login = time.time()
        B.sign_in_many(hd, names)
        t_signed = time.time()
        hd.idp.reset_stats()
        time.sleep(3)
        out["memory_many_signed_in"] = B.smaps(pid)
        out["memory_many_signed_in_top"] = smaps_breakdown(pid)
        out["accounts"] = len(names)
        out["sign_in_span_s"] = round(t_signed - t_login, 1)
        log("1000 accounts signed in in", out["sign_in_span_s"], "s; memory",
            out["memory_many_signed_in"])
        window = args.spread_window
        deadline = time.time() + window
        while time.time() < deadline:
            time.sleep(min(10, max(0.1, deadline - time.time())))
            harness.check(hd.daemon.proc.poll() is None, "devauthd (1000 accounts) died")
        t_end = time.time()
        stats = hd.idp.stats()
        times = [r["t"] / 1000 for r in stats["refreshes"]]
        results = {}
        for r in stats["refreshes"]:
            results[r["result"]] = results.get(r["result"], 0) + 1
        out["spread"] = {"ttl": args.spread_ttl, "window_s": round(t_end - t_signed, 1),
                         "refreshes": len(times), "results": results,
                         "login_span_s": out["sign_in_span_s"],
                         "bins_5s": refresh_histogram(times, t_signed, t_end, 5),
                         "bins_1s": refresh_histogram(times, t_signed, t_end, 1)}
        out["memory_many_after_refreshes"] = B.smaps(pid)
        log("spread", out["spread"]["refreshes"], "refreshes", results)

        rate_t1 = time.time()
        rates = []
        for L in lifetimes:
            st = idps[L].stats()
            n = len([r for r in st["refreshes"] if rate_t0 <= r["t"] / 1000 <= rate_t1])
            bad = [r["result"] for r in st["refreshes"] if r["result"] != "tokens"]
            hours = (rate_t1 - rate_t0) / 3600
            rates.append({"lifetime_s": L, "window_s": round(rate_t1 - rate_t0, 1),
                          "refreshes": n, "failed": bad, "per_hour": round(n / hours, 1),
                          "one_per_lifetime_per_hour": round(3600 / L, 1),
                          "design_per_hour": round(3600 / (0.725 * L), 1)})
        out["refresh_rates"] = rates
        log("refresh rates", rates)
    except BaseException:
        for h in (hr, hd):
            if h is not None:
                print(h.diagnostics()[-6000:], file=sys.stderr)
        raise
    finally:
        for h in (hd, hr):
            if h is not None:
                problems = h.close()
                if problems:
                    log("teardown problems:", problems)
    return out


# ---------------------------------------------------------------- the real Keycloak


KC_DIR = os.path.join(B.SOURCE_ROOT, "tests", "keycloak")
KC_TOOL = os.path.join(B.SOURCE_ROOT, "tools", "keycloak")
KC_REALM = "devauth"          # Keycloak's default access token lifespan, 300 s
KC_SHORT_REALM = "devauth-short"  # the same realm with 15 s access tokens
KC_DEVICE_CLIENT = "tv-device"    # what a device maker registers: public, PKCE S256
KC_AGENT_CLIENT = "oidc-agent"    # confidential: oidc-agent sends client_secret_basic
KC_USER = "alice"
# a browser's Accept header: Keycloak routes the device page's form POST
# (/realms/R/device) to its device authorization endpoint without it
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
DEVICE_GRANT = harness.DEVICE_GRANT
KC_SETTLE = 2.0


def kc_modules():
    if KC_DIR not in sys.path:
        sys.path.insert(0, KC_DIR)
    import approver
    import keycloak
    return approver, keycloak


def kc_realm_facts(keycloak):
    """Lifespans and oidc-agent's secret, from the realm files the server imported."""
    realms = {r["realm"]: r for r in keycloak.realm_documents()}
    agent = next(c for c in realms[KC_REALM]["clients"] if c["clientId"] == KC_AGENT_CLIENT)
    device = next(c for c in realms[KC_REALM]["clients"] if c["clientId"] == KC_DEVICE_CLIENT)
    return {"lifespan": {n: realms[n]["accessTokenLifespan"] for n in (KC_REALM, KC_SHORT_REALM)},
            "agent_secret": agent["secret"],
            "interval": {KC_DEVICE_CLIENT: int(device["attributes"]["oauth2.device.polling.interval"]),
                         KC_AGENT_CLIENT: int(agent["attributes"]["oauth2.device.polling.interval"])}}


def kc_kind(r):
    """What a request at the proxy was."""
    p = r["path"]
    if p.endswith("/.well-known/openid-configuration"):
        return "discovery"
    if p.endswith("/protocol/openid-connect/certs"):
        return "jwks"
    if p.endswith("/protocol/openid-connect/auth/device"):
        return "device_authorization"
    if p.endswith("/protocol/openid-connect/token"):
        if r["grant_type"] == DEVICE_GRANT:
            return "poll"
        if r["grant_type"] == "refresh_token":
            return "refresh"
        return "token_other"
    if p.endswith("/protocol/openid-connect/userinfo"):
        return "userinfo"
    if p.endswith("/protocol/openid-connect/revoke"):
        return "revoke"
    if "/login-actions/" in p or re.search(r"/device(/status)?/?$", p) or "/resources/" in p:
        return "browser"  # the person's approval pages, not the device's requests
    return "other"


def kc_counts(records):
    out = {}
    for r in records:
        k = kc_kind(r)
        out[k] = out.get(k, 0) + 1
    return out


def kc_approve(approver, uri, user_code=None):
    """Keycloak's real pages, by tests/keycloak/approver.py, as a browser
    (fresh cookie jar, a browser's Accept header)."""
    b = approver.Browser()
    b.opener.addheaders = [("Accept", BROWSER_ACCEPT), ("User-Agent", "devauthd-bench-approver")]
    outcome, b = approver.approve(uri, user=KC_USER, user_code=user_code, browser=b)
    harness.check(outcome == "approved", f"the approval of {uri}: {outcome}")
    return [kind for kind, _ in b.pages]


def kc_signin_row(proxy, t0, t_code, t_approved, t_done, pages):
    """The requests of one sign-in, from its start to signed-in + KC_SETTLE
    (anything the client sends right after the tokens is its too)."""
    recs = [r for r in proxy.since(t0) if r["t0"] <= t_done + KC_SETTLE]
    polls = [r for r in recs if kc_kind(r) == "poll"]
    counts = kc_counts(recs)
    flow = counts.get("device_authorization", 0) + len(polls)
    return {"counts": counts, "device_flow_requests": flow,
            "all_requests": sum(v for k, v in counts.items() if k != "browser"),
            "polls": [r["error"] or r["status"] for r in polls],
            "poll_gaps_s": [round(b["t0"] - a["t0"], 2) for a, b in zip(polls, polls[1:])],
            "approval_done_after_code_s": round(t_approved - t_code, 2),
            "tokens_after_approval_s": round(t_done - t_approved, 2),
            "signin_s": round(t_done - t0, 2), "pages": pages}


def kc_sign_in_devauthd(h, approver, proxy, account, delay):
    t0 = time.monotonic()
    since = h.mark()
    prompt = h.login(account)
    t_code = time.monotonic()
    time.sleep(delay)
    pages = kc_approve(approver, prompt["verification-uri-complete"])
    t_approved = time.monotonic()
    h.wait_status("signed-in", account=account, since=since, timeout=60)
    t_done = time.monotonic()
    time.sleep(KC_SETTLE)
    return kc_signin_row(proxy, t0, t_code, t_approved, t_done, pages)


def kc_sign_in_agent(agent, approver, proxy, name, issuer, secret, delay):
    pages, approved = [], []

    def approve(uri, code):
        time.sleep(delay)
        pages.extend(kc_approve(approver, uri, user_code=code))
        approved.append(time.monotonic())

    t0, t_code, t_done = agent.add_device(name, issuer, KC_AGENT_CLIENT, secret, approve)
    time.sleep(KC_SETTLE)
    # oidc-gen is done when the agent has the tokens
    return kc_signin_row(proxy, t0, t_code, approved[0], t_done, pages)


def kc_userinfo(state, proxy, realm, token):
    """Keycloak's userinfo for a token, straight at Keycloak but with the
    proxy's Host (the token's issuer), so no request shows at the proxy."""
    req = urllib.request.Request(
        f"{state['http']}/realms/{realm}/protocol/openid-connect/userinfo",
        headers={"Authorization": f"Bearer {token}",
                 "Host": urllib.parse.urlsplit(proxy.origin).netloc})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def timed_run(argv, env, timeout=30):
    t0 = time.monotonic()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
    return done.returncode, done.stdout, done.stderr, (time.monotonic() - t0) * 1000


def kc_cached(h, agent, proxies, env, runs):
    """a. A cached token: devauthctl token vs oidc-token, hyperfine, both
    holding a valid token from Keycloak."""
    ctl = B.exe("devauthctl")
    cmds = {"devauthctl": f"{ctl} token kc", "oidc-token": "oidc-token kc"}
    rc, out, err, _ = timed_run([ctl, "token", "kc"], env)
    harness.check(rc == 0 and out.strip() == h.get_token("kc")[0], f"devauthctl token: {rc} {err}")
    rc, out, err, _ = timed_run(["oidc-token", "kc"], env)
    harness.check(rc == 0 and out.count(".") == 2, f"oidc-token: {rc} {err}")
    t0 = time.monotonic()
    result_file = os.path.join(h.tmp, "hyperfine-keycloak.json")
    results = hyperfine_rounds(cmds, runs, result_file, env)
    during = {prog: kc_counts(proxies[(prog, "kc")].since(t0)) for prog in ("devauthd", "oidc-agent")}
    log("keycloak cached", {k: [round(x["median_ms"], 2) for x in v] for k, v in results.items()},
        "requests during", during)
    return {"runs": runs, "results": results, "keycloak_requests_during": during}


def kc_refresh(h, agent, proxies, env, rounds, warmup=2):
    """b. A forced refresh through each, interleaved round by round (the
    order rotates): devauthd's D-Bus Refresh then GetToken (from this
    process's bus connection), `devauthctl refresh kc; devauthctl token kc`,
    and `oidc-token --force-new kc`. The proxy times Keycloak's part."""
    ctl = B.exe("devauthctl")
    prev = {}

    def dbus():
        h.refresh("kc")
        return h.get_token("kc", min_validity=0)[0]

    def cli():
        rc, _, err, _ = timed_run([ctl, "refresh", "kc"], env)
        harness.check(rc == 0, f"devauthctl refresh: {rc} {err}")
        rc, out, err, _ = timed_run([ctl, "token", "kc"], env)
        harness.check(rc == 0, f"devauthctl token: {rc} {err}")
        return out.strip()

    def oidc():
        rc, out, err, _ = timed_run(["oidc-token", "--force-new", "kc"], env)
        harness.check(rc == 0, f"oidc-token --force-new: {rc} {err}")
        return out.strip()

    ways = {"devauthd_dbus": ("devauthd", dbus), "devauthctl": ("devauthd", cli),
            "oidc-token": ("oidc-agent", oidc)}
    per = {k: [] for k in ways}
    names = list(ways)
    for r in range(warmup + rounds):
        order = names[r % 3:] + names[:r % 3]
        for who in order:
            prog, fn = ways[who]
            proxy = proxies[(prog, "kc")]
            n0 = len(proxy.records)
            t0 = time.monotonic()
            token = fn()
            t1 = time.monotonic()
            recs = proxy.records[n0:]
            refreshes = [x for x in recs if kc_kind(x) == "refresh"]
            harness.check(len(refreshes) == 1 and refreshes[0]["status"] == 200,
                          f"{who}: one accepted refresh expected at Keycloak, saw {recs}")
            harness.check(token and token != prev.get(prog), f"{who}: no new token")
            prev[prog] = token
            x = refreshes[0]
            if r >= warmup:
                per[who].append({"ms": (t1 - t0) * 1000, "keycloak_ms": (x["t1"] - x["t0"]) * 1000,
                                 "before_ms": (x["t0"] - t0) * 1000, "after_ms": (t1 - x["t1"]) * 1000,
                                 "requests": len(recs)})
            time.sleep(0.2)
    log("keycloak refresh medians (ms)", {k: round(median([x["ms"] for x in v]), 1)
                                          for k, v in per.items()})
    return {"rounds": rounds, "warmup": warmup, "results": per}


def kc_window(h, agent, proxies, env, seconds, period=None):
    """c. The short-lifespan accounts over a window: idle (period None: no
    caller at all), or with one caller per program every period seconds
    (devauthctl token --min-validity 2, oidc-token with its default)."""
    ctl = B.exe("devauthctl")
    t0 = time.monotonic()
    deadline = t0 + seconds
    calls = {"devauthd": [], "oidc-agent": []}
    n = 0
    while time.monotonic() < deadline:
        harness.check(h.daemon.proc.poll() is None, "devauthd died")
        if period is None:
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
            continue
        order = [("devauthd", [ctl, "token", "--min-validity", "2", "short"]),
                 ("oidc-agent", ["oidc-token", "short"])]
        if n % 2:
            order.reverse()
        for prog, argv in order:
            proxy = proxies[(prog, "short")]
            c0 = time.monotonic()
            rc, out, err, ms = timed_run(argv, env)
            c1 = time.monotonic()
            harness.check(rc == 0 and out.count(".") == 2, f"{argv}: {rc} {err}")
            waited = any(c0 <= x["t0"] <= c1 for x in proxy.since(c0) if kc_kind(x) == "refresh")
            calls[prog].append({"ms": ms, "waited_for_refresh": waited})
        n += 1
        next_at = t0 + n * period
        time.sleep(max(0.0, min(next_at, deadline) - time.monotonic()))
    t1 = time.monotonic()
    out = {"window_s": round(t1 - t0, 1), "period_s": period}
    for prog in ("devauthd", "oidc-agent"):
        recs = [x for x in proxies[(prog, "short")].since(t0) if x["t0"] <= t1]
        refreshes = [x for x in recs if kc_kind(x) == "refresh"]
        out[prog] = {"counts": kc_counts(recs), "refreshes": len(refreshes),
                     "refresh_failures": [x["error"] or x["status"] for x in refreshes
                                          if x["status"] != 200],
                     "refresh_gaps_s": [round(b["t0"] - a["t0"], 1)
                                        for a, b in zip(refreshes, refreshes[1:])]}
        if period is not None:
            c = calls[prog]
            out[prog]["calls"] = len(c)
            out[prog]["calls_waiting_for_refresh"] = sum(x["waited_for_refresh"] for x in c)
            out[prog]["call_median_ms"] = median([x["ms"] for x in c])
            out[prog]["call_max_ms"] = max(x["ms"] for x in c) if c else None
    log("keycloak window", period, {p: out[p]["refreshes"] for p in ("devauthd", "oidc-agent")})
    return out


def kc_tool(verb, kc_dir, *extra, timeout=300):
    return harness.run_process([KC_TOOL, verb, kc_dir, *extra], timeout=timeout)


def world_keycloak(args):
    """devauthd and oidc-agent side by side against the real Keycloak of
    tests/keycloak (its own server, started and stopped here by PID)."""
    approver, keycloak = kc_modules()
    facts = kc_realm_facts(keycloak)
    out = {"run": {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_start": B.loadavg(),
                   "source": B._cmd(["git", "-C", B.SOURCE_ROOT, "describe", "--always", "--dirty"]),
                   "devauthd": B._cmd([B.exe("devauthd"), "--version"]),
                   "oidc-agent": B._cmd(["oidc-agent", "--version"]),
                   "hyperfine": B._cmd(["hyperfine", "--version"]),
                   "keycloak": keycloak.VERSION, "java": keycloak.java_home()},
           "lifespan_s": facts["lifespan"], "interval_s": facts["interval"],
           "clients": {"devauthd": KC_DEVICE_CLIENT, "oidc-agent": KC_AGENT_CLIENT}}
    kc_dir = tempfile.mkdtemp(prefix="devauthd-keycloak.", dir="/tmp")
    starter = subprocess.Popen([KC_TOOL, "start", kc_dir], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h = None
    try:
        t = time.monotonic()
        rc, _, err = kc_tool("wait", kc_dir, timeout=1200)
        harness.check(rc == 0, f"Keycloak did not start: {err[-3000:]}")
        starter.wait(30)
        with open(os.path.join(kc_dir, "state.json")) as f:
            state = json.load(f)
        out["run"]["keycloak_start_s"] = round(time.monotonic() - t, 1)
        log("Keycloak", state["version"], "serves", state["http"], "pid", state["pid"])

        h = B.new_harness("bench-keycloak", extra_policy=None)
        # one proxy per program and account: each is its own issuer URL
        # (Keycloak takes its URLs from the request's Host), so every request
        # at a proxy is that account's
        accounts = {"kc": KC_REALM, "idle": KC_REALM, "short": KC_SHORT_REALM}
        proxies = {}
        for prog in ("devauthd", "oidc-agent"):
            for name in accounts:
                p = B.OriginProxy(state["http"], name=f"{prog}/{name}")
                h.add_cleanup(p.stop)
                proxies[(prog, name)] = p
        issuer = {key: f"{p.origin}/realms/{accounts[key[1]]}" for key, p in proxies.items()}
        h.start_bus()
        B.start_daemon(h, {name: harness.account_conf(
            issuer[("devauthd", name)], client_id=KC_DEVICE_CLIENT, scopes="openid offline_access",
            pkce=True) for name in accounts}, FAST)
        agent = OidcAgent(h)
        env = dict(agent.env, DBUS_SYSTEM_BUS_ADDRESS=h.bus.address, LC_ALL="C.UTF-8",
                   DEVAUTH_VARLINK_SOCKET=h.daemon.varlink_socket)
        for var in ("G_MESSAGES_DEBUG", "G_DEBUG", "G_DBUS_DEBUG"):
            env.pop(var, None)

        # sign-ins, interleaved; the person approves args.kc_approval_delay s
        # after the code is shown, through Keycloak's pages
        signins = {"devauthd": [], "oidc-agent": []}
        signed_in_at = {}
        for i, name in enumerate(accounts):
            order = ["devauthd", "oidc-agent"] if i % 2 == 0 else ["oidc-agent", "devauthd"]
            for prog in order:
                if prog == "devauthd":
                    row = kc_sign_in_devauthd(h, approver, proxies[(prog, name)], name,
                                              args.kc_approval_delay)
                else:
                    row = kc_sign_in_agent(agent, approver, proxies[(prog, name)], name,
                                           issuer[(prog, name)], facts["agent_secret"],
                                           args.kc_approval_delay)
                row["account"] = name
                signins[prog].append(row)
                signed_in_at[(prog, name)] = time.monotonic()
                log("sign-in", prog, name, row["counts"], row["polls"])
        out["signins"] = signins
        out["approval_delay_s"] = args.kc_approval_delay

        # both tokens are Keycloak's and accepted by its userinfo
        checks = {}
        for prog, token in (("devauthd", h.get_token("kc")[0]), ("oidc-agent", agent.token("kc"))):
            status, body = kc_userinfo(state, proxies[(prog, "kc")], KC_REALM, token)
            harness.check(status == 200 and body.get("preferred_username") == KC_USER,
                          f"userinfo for {prog}'s token: {status} {body}")
            checks[prog] = {"userinfo": status, "preferred_username": body["preferred_username"],
                            "token_bytes": len(token)}
        out["tokens"] = checks

        out["cached"] = kc_cached(h, agent, proxies, env, args.cli_runs)
        out["refresh"] = kc_refresh(h, agent, proxies, env, args.kc_refresh_rounds)
        out["idle"] = kc_window(h, agent, proxies, env, args.kc_idle_window)
        out["busy"] = kc_window(h, agent, proxies, env, args.kc_busy_window, period=3.0)

        # the 300 s accounts, untouched since their sign-in: counted directly
        now = time.monotonic()
        direct = {}
        for prog in ("devauthd", "oidc-agent"):
            t0 = signed_in_at[(prog, "idle")] + KC_SETTLE
            recs = [x for x in proxies[(prog, "idle")].since(t0) if x["t0"] <= now]
            direct[prog] = {"window_s": round(now - t0, 1), "counts": kc_counts(recs),
                            "refreshes": sum(kc_kind(x) == "refresh" for x in recs)}
        out["idle_direct"] = direct
        log("keycloak direct idle (300 s tokens)", direct)
        for name in accounts:
            state_now = h.properties(name)["State"]
            harness.check(state_now == "signed-in", f"devauthd account {name} is {state_now}")
    except BaseException:
        if h is not None:
            print(h.diagnostics()[-8000:], file=sys.stderr)
        try:
            with open(os.path.join(kc_dir, "start.log"), errors="replace") as f:
                print("---- tools/keycloak start ----\n" + f.read()[-3000:], file=sys.stderr)
        except OSError:
            pass
        raise
    finally:
        if h is not None:
            problems = h.close()
            if problems:
                log("teardown problems:", problems)
        rc, _, err = kc_tool("stop", kc_dir, str(starter.pid), timeout=120)
        if rc != 0:
            log("tools/keycloak stop:", rc, err)
        if starter.poll() is None:
            starter.kill()
        starter.wait(10)
        out["run"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        out["run"]["load_end"] = B.loadavg()
    return out


# ---------------------------------------------------------------- the report


def fmt(x, nd=1):
    return f"{x:.{nd}f}" if isinstance(x, (int, float)) and not math.isnan(x) else "n/a"


def met(ok):
    return "**met**" if ok else "**NOT met**"


def report_keycloak(kc):
    """Section 8: devauthd and oidc-agent against the real Keycloak."""
    if not kc:
        return []
    run = kc["run"]
    lines = ["## 8. Against the real Keycloak, beside oidc-agent", "",
             f"Keycloak {run['keycloak']} (tests/keycloak, Java {os.path.basename(run['java'])}) "
             f"on 127.0.0.1, started for this section ({run.get('keycloak_start_s')} s to ready); "
             f"{run['devauthd']} (source {run['source']}) and {run['oidc-agent']}, each with its "
             f"own client of realm `devauth` (devauthd: `{kc['clients']['devauthd']}`, public, "
             f"PKCE S256; oidc-agent: `{kc['clients']['oidc-agent']}`, confidential: oidc-agent "
             "needs a client secret for the device flow), both with `openid offline_access`. "
             "Every request to Keycloak goes through a counting proxy per program and account. "
             f"Run {run['started']} – {run.get('finished', '?')}, load {run.get('load_start')} → "
             f"{run.get('load_end')}.", "",
             "### Sign-in", "",
             f"The person approves {kc['approval_delay_s']} s after the code is shown, through "
             f"Keycloak's pages (login, grant); device code lifespan {kc['lifespan_s']} s, "
             f"polling interval {kc['interval_s']} s. Requests to Keycloak from the start of the "
             "sign-in to 2 s after the tokens (the browser's pages not counted).", "",
             "| program | account | device-flow requests | all requests | polls | "
             "tokens after approval (s) |", "|---|---|---|---|---|---|"]
    for prog, rows in kc["signins"].items():
        for row in rows:
            lines.append(f"| {prog} | {row['account']} | {row['device_flow_requests']} | "
                         f"{row['all_requests']} | {', '.join(str(x) for x in row['polls'])} | "
                         f"{row['tokens_after_approval_s']} |")
    c = kc["cached"]
    med = {k: median([x["median_ms"] for x in v]) for k, v in c["results"].items()}
    lines += ["", "### A cached token", "",
              f"`devauthctl token kc` vs `oidc-token kc`, hyperfine, 3 rounds × {c['runs']} runs "
              "(order alternating); medians of the rounds' medians (ms). Requests to Keycloak "
              f"meanwhile: {c['keycloak_requests_during']}.", "",
              "| command | median (ms) | rounds |", "|---|---|---|"]
    for k, v in c["results"].items():
        lines.append(f"| `{k}` | {fmt(med[k], 2)} | "
                     + ", ".join(fmt(x["median_ms"], 2) for x in v) + " |")
    if med.get("oidc-token"):
        lines += ["", f"devauthctl / oidc-token: {fmt(med['devauthctl'] / med['oidc-token'], 2)}×."]
    r = kc["refresh"]
    lines += ["", "### A forced refresh", "",
              f"{r['rounds']} rounds after {r['warmup']} of warm-up, the three ways interleaved; "
              "each must make exactly one accepted refresh at Keycloak and return a new token. "
              "Keycloak's part is timed at the proxy; medians (ms).", "",
              "| way | total | Keycloak | before Keycloak | after Keycloak | requests |",
              "|---|---|---|---|---|---|"]
    labels = {"devauthd_dbus": "devauthd: D-Bus Refresh + GetToken",
              "devauthctl": "`devauthctl refresh kc; devauthctl token kc`",
              "oidc-token": "`oidc-token --force-new kc`"}
    for k, v in r["results"].items():
        lines.append(f"| {labels.get(k, k)} | {fmt(median([x['ms'] for x in v]))} | "
                     f"{fmt(median([x['keycloak_ms'] for x in v]))} | "
                     f"{fmt(median([x['before_ms'] for x in v]))} | "
                     f"{fmt(median([x['after_ms'] for x in v]))} | "
                     f"{fmt(median([x['requests'] for x in v]), 0)} |")
    lines += ["", "### Requests to Keycloak of a device over time", "",
              "Account `short` is in realm `devauth-short` (access token 15 s): idle (nobody asks "
              "for a token) and busy (one `token` call per program every 3 s). Account `idle` "
              "(access token 300 s) untouched since its sign-in. Per hour = count × 3600 / window.",
              "", "| window | program | window (s) | refreshes | per hour | failures | "
              "calls that waited for a refresh |", "|---|---|---|---|---|---|---|"]
    for label, w in (("idle, 15 s tokens", kc["idle"]), ("busy, 15 s tokens", kc["busy"])):
        for prog in ("devauthd", "oidc-agent"):
            x = w[prog]
            waited = (f"{x['calls_waiting_for_refresh']} of {x['calls']}" if "calls" in x else "–")
            lines.append(f"| {label} | {prog} | {w['window_s']} | {x['refreshes']} | "
                         f"{fmt(x['refreshes'] * 3600 / w['window_s'], 0)} | "
                         f"{x['refresh_failures'] or 'none'} | {waited} |")
    for prog, x in kc["idle_direct"].items():
        lines.append(f"| idle, 300 s tokens | {prog} | {x['window_s']} | {x['refreshes']} | "
                     f"{fmt(x['refreshes'] * 3600 / x['window_s'], 0) if x['window_s'] else 'n/a'} | "
                     "– | – |")
    lines += [""]
    return lines


def report_tls_memory(worlds, targets):
    """The three worlds of memory_tls(): Private_Dirty side by side, the
    ratio to plain HTTP, where it is."""
    http = worlds.get("http", {}).get("after", {}).get("Private_Dirty")
    refreshes = next(iter(worlds.values()))["refreshes"]
    lines = [f"### HTTP vs HTTPS: 1 account, device-flow sign-in, {refreshes} refreshes "
             "(Private_Dirty, KiB)", "",
             "| issuer | started | signed in | after the refreshes | × plain HTTP | heap | "
             "anon | libgnutls | other files | threads | Refresh() p50 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind, label in TLS_WORLDS:
        w = worlds.get(kind)
        if w is None:
            continue
        after = w["after"]["Private_Dirty"]
        k = w["kinds"]
        ratio = fmt(after / http, 2) if http else "–"
        lines.append(f"| {label} | {w['started']['Private_Dirty']} | "
                     f"{w['signed_in']['Private_Dirty']} | {after} | {ratio} | {k['heap']} | "
                     f"{k['anon']} | {k['libgnutls']} | {k['other']} | {k['threads']} | "
                     f"{fmt(w.get('refresh_ms'))} |")
    lines.append("")
    for kind, limit in (("ca_file", 2048), ("system", 4096)):
        w = worlds.get(kind)
        if w is not None:
            after = w["after"]["Private_Dirty"]
            label = "CAFile=" if kind == "ca_file" else "the system store"
            targets.append((f"Private_Dirty ≤ {limit // 1024} MiB after sign-in and refreshes "
                            f"over HTTPS with {label}", f"{after} KiB", after <= limit))
    for kind, label in TLS_WORLDS:
        if kind in worlds:
            lines.append(f"- {label}, largest mappings: "
                         + ", ".join(f"{k} {v}" for k, v in worlds[kind]["top"]))
    return lines + [""]


def write_report(path):
    m = R["machine"]
    lines = ["# devauthd benchmark results", "",
             "Written by `bench/run` (do not edit by hand; run it again). "
             "Raw figures: `bench/results.json`.", "",
             "## Machine", "",
             f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['memory']}",
             f"- kernel {m['kernel']}; {m['os']}",
             f"- GLib {m['glib']}, libsoup {m['libsoup']}, json-glib {m['json-glib']}; "
             f"{m['dbus-daemon']}; {m['gcc']}; Node.js {m['node']}",
             f"- {m['devauthd']} (source {m.get('source', '?')}, meson buildtype "
             f"{m['buildtype']}); {m['oidc-agent']}; "
             f"{m['hyperfine']}",
             f"- run {R['started']} – {R.get('finished', '?')}; load average at start "
             f"{R.get('load_start')}, at end {R.get('load_end')}. The machine is shared: "
             "every figure is compared with a baseline measured in the same run, "
             "interleaved round by round."
             + (f" Sections measured again and merged: {'; '.join(R['rerun'])}."
                if R.get("rerun") else ""), ""]
    targets = []

    t = R.get("transport")
    if t:
        lines += ["## 1. GetToken latency (cached token) vs the transport floor", "",
                  f"C client (`bench-client latency`), one connection, calls one after the other, "
                  f"alternating call by call between the floor and devauthd (so both see the same "
                  f"moments of a noisy machine); {t['rounds']} rounds × {t['count']} calls to each "
                  f"per method; the floor (`bench-floor`) is a bare GDBus service on the "
                  f"same private bus returning the same reply shape (`(sa{{sv}})`, a "
                  f"{t['token_bytes']}-byte string and the same info keys; for GetTokenFd a "
                  f"sealed memfd made per call). Latencies: medians over rounds (µs); ratios: "
                  f"median over rounds of the round's devauthd/floor ratio.", "",
                  "| method | floor p50 | devauthd p50 | ratio p50 | floor p99 | devauthd p99 | ratio p99 |",
                  "|---|---|---|---|---|---|---|"]
        for method, per in t["latency"].items():
            fp50 = median([x["p50_us"] for x in per["floor"]])
            dp50 = median([x["p50_us"] for x in per["devauthd"]])
            fp99 = median([x["p99_us"] for x in per["floor"]])
            dp99 = median([x["p99_us"] for x in per["devauthd"]])
            r50 = median([b["p50_us"] / a["p50_us"] for a, b in zip(per["floor"], per["devauthd"])])
            r99 = median([b["p99_us"] / a["p99_us"] for a, b in zip(per["floor"], per["devauthd"])])
            lines.append(f"| {method} | {fmt(fp50)} | {fmt(dp50)} | {fmt(r50, 2)}× | "
                         f"{fmt(fp99)} | {fmt(dp99)} | {fmt(r99, 2)}× |")
            if method == "GetToken":
                targets.append(("GetToken p50 ≤ 1.25× floor", f"{fmt(r50, 2)}×", r50 <= 1.25))
        lines += ["", "Per-round p50 (µs), floor / devauthd: " + "; ".join(
            f"{method}: " + ", ".join(f"{round(a['p50_us'])}/{round(b['p50_us'])}"
                                      for a, b in zip(per["floor"], per["devauthd"]))
            for method, per in t["latency"].items()), ""]
        lines += ["## 2. Throughput vs the floor", "",
                  "C clients, each a process with a connection of its own, calling GetToken one "
                  f"after the other for {THROUGHPUT_SECONDS} s; {THROUGHPUT_ROUNDS} rounds per "
                  "side, floor and devauthd alternating "
                  "(who goes first alternates too); medians (calls/s) and the median of the "
                  "rounds' ratios.", "",
                  "| clients | floor | devauthd | ratio | rounds floor/devauthd |",
                  "|---|---|---|---|---|"]
        worst = None
        for clients, per in t["throughput"].items():
            f = median([x["calls_per_s"] for x in per["floor"]])
            d = median([x["calls_per_s"] for x in per["devauthd"]])
            ratio = median([b["calls_per_s"] / a["calls_per_s"]
                            for a, b in zip(per["floor"], per["devauthd"])])
            worst = ratio if worst is None else min(worst, ratio)
            lines.append(f"| {clients} | {fmt(f, 0)} | {fmt(d, 0)} | {fmt(ratio, 2)}× | "
                         + ", ".join(f"{round(a['calls_per_s'])}/{round(b['calls_per_s'])}"
                                     for a, b in zip(per["floor"], per["devauthd"])) + " |")
        targets.append(("throughput ≥ 0.8× floor at 1, 8, 64 clients", f"worst {fmt(worst, 2)}×",
                        worst >= 0.8))
        lines.append("")

    c = R.get("cli")
    lines += ["## 3. CLI: `devauthctl token` vs `oidc-token`", ""]
    if c:
        d = median([x["median_ms"] for x in c["results"]["devauthctl"]])
        o = median([x["median_ms"] for x in c["results"]["oidc-token"]])
        lines += [f"hyperfine (`-N`, no shell), {c['runs']} runs after 20 warm-ups, 3 rounds in "
                  "alternating order; both hold a valid token (devauthd: signed in, served from "
                  "memory; oidc-agent 4.2.6 configured against the same loopback IdP with "
                  "`oidc-gen --rt=…` using a refresh token from a device flow, a confidential "
                  "client since oidc-agent authenticates with `client_secret_basic`).", "",
                  "| command | median of round medians (ms) | rounds (median ms) |", "|---|---|---|",
                  f"| `devauthctl token` (devauthd's Varlink socket) | {fmt(d, 2)} | "
                  + ", ".join(fmt(x["median_ms"], 2) for x in c["results"]["devauthctl"]) + " |",
                  f"| `oidc-token bench` | {fmt(o, 2)} | "
                  + ", ".join(fmt(x["median_ms"], 2) for x in c["results"]["oidc-token"]) + " |",
                  ] + [f"| yardstick `{k}` (GetTokenFd on the bus, {how}) | "
                       f"{fmt(median([x['median_ms'] for x in c['results'][k]]), 2)} | "
                       + ", ".join(fmt(x["median_ms"], 2) for x in c["results"][k]) + " |"
                       for k, how in (("devauthctl-bus", "what `devauthctl token` runs when "
                                       "there is no socket: GDBus"),
                                      ("bench-cli-gdbus", "bare GDBus, no proxy"),
                                      ("bench-cli-sdbus", "sd-bus"),
                                      ("bench-cli-sdbus-floor", "sd-bus, to bench-floor instead "
                                       "of devauthd"))
                       if c["results"].get(k)] + [
                  "", f"devauthctl is {fmt(o / d, 2)}× as fast as oidc-token. IdP requests "
                  f"during the timed runs: {c['idp_requests_during']}.", ""]
        targets.append(("devauthctl token ≥ 2× faster than oidc-token", f"{fmt(o / d, 2)}×",
                        o / d >= 2))
    else:
        lines += ["Not measured: " + R.get("oidc_agent_error", "section skipped"), ""]

    s = R.get("singleflight")
    if s:
        e, f = s["expiring"], s["fresh"]
        lines += ["## 4. Single-flight refresh", "",
                  f"{e['callers']} processes, each with its own connection, released together, "
                  f"call GetToken once (default `min-validity`, 30 s) when the {s['ttl']} s token "
                  f"has {e['left_s']} s left, before the proactive refresh: every caller needs a "
                  "refresh, and one fresh token satisfies them all. Refresh requests counted at "
                  "the IdP (`/_test/stats`); then the same burst on the fresh token.", "",
                  "| case | callers served | errors | IdP refresh requests | slowest call (ms) |",
                  "|---|---|---|---|---|",
                  f"| expiring token | {e['ok']}/{e['callers']} | {len(e['errors'])} | "
                  f"{e['refreshes']} | {fmt(e['max_ms'])} |",
                  f"| fresh token | {f['ok']}/{f['callers']} | "
                  f"{len(f['errors'])} | {f['refreshes']} | {fmt(f['max_ms'])} |", ""]
        targets.append(("50 callers on an expiring token → 1 refresh", str(e["refreshes"]),
                        e["refreshes"] == 1 and e["ok"] == e["callers"]))

    mem = R.get("memory", {})
    many = R.get("idpload", {})
    if mem or many:
        lines += ["## 5. Memory (KiB, /proc/PID/smaps_rollup)", "",
                  "| process | state | Rss | Pss | Private_Dirty |", "|---|---|---|---|---|"]
        if "idle_1" in mem:
            x = mem["idle_1"]
            lines.append(f"| devauthd, 1 account | idle: started, signed in from the keyring, one "
                         f"GetToken served | {x['Rss']} | {x['Pss']} | {x['Private_Dirty']} |")
        if "after_load_1" in mem:
            x = mem["after_load_1"]
            lines.append(f"| devauthd, 1 account | after the latency/throughput runs | {x['Rss']} "
                         f"| {x['Pss']} | {x['Private_Dirty']} |")
        tls = mem.get("tls", {}).get("worlds")
        n = many.get("accounts")
        for key, state in (("memory_many_signed_out", "all signed out (just started)"),
                           ("memory_many_signed_in", "all signed in, idle"),
                           ("memory_many_after_refreshes", "signed in, after the refresh window")):
            if key in many:
                x = many[key]
                lines.append(f"| devauthd, {n} accounts | {state} | {x['Rss']} | {x['Pss']} | "
                             f"{x['Private_Dirty']} |")
        ag = mem.get("oidc_agent")
        if ag:
            for pid, x in ag["processes"].items():
                lines.append(f"| oidc-agent process {pid} | 1 account loaded, token served | "
                             f"{x['Rss']} | {x['Pss']} | {x['Private_Dirty']} |")
            x = ag["total"]
            lines.append(f"| oidc-agent, both processes | sum | {x['Rss']} | {x['Pss']} | "
                         f"{x['Private_Dirty']} |")
        lines.append("")
        if tls:
            lines += report_tls_memory(tls, targets)
        if "idle_1" in mem:
            pd1 = mem["idle_1"]["Private_Dirty"]
            targets.append(("Private_Dirty ≤ 1 MiB with 1 account", f"{pd1} KiB", pd1 <= 1024))
            lines += ["Where devauthd's private dirty pages are (1 account, idle; KiB): "
                      + ", ".join(f"{k} {v}" for k, v in mem["idle_1_top"]), ""]
        if "idle_1" in mem and "memory_many_signed_in" in many:
            base = mem["idle_1"]["Private_Dirty"]
            for key, label in (("memory_many_signed_out", "signed out"),
                               ("memory_many_signed_in", "signed in")):
                per = (many[key]["Private_Dirty"] - base) / (n - 1)
                lines.append(f"- per extra account ({label}): {fmt(per, 2)} KiB "
                             f"(({many[key]['Private_Dirty']} − {base}) / {n - 1})")
            per_in = (many["memory_many_signed_in"]["Private_Dirty"] - base) / (n - 1)
            targets.append(("≤ +4 KiB Private_Dirty per extra account (signed in)",
                            f"{fmt(per_in, 2)} KiB", per_in <= 4))
            lines += ["", f"{n} accounts: where the private dirty pages are (signed in; KiB): "
                      + ", ".join(f"{k} {v}" for k, v in many["memory_many_signed_in_top"]), ""]

    st = R.get("startup")
    if st:
        f, d = median(st["floor"]), median(st["devauthd"])
        lines += ["## 6. Start-up", "",
                  "exec → READY=1 on our own `NOTIFY_SOCKET` (`bench-client startup`); devauthd "
                  "with 1 account whose tokens are in the keyring (its normal restart); the floor "
                  "says READY=1 when its name is acquired. Runs alternate in blocks.", "",
                  "| program | runs | median (ms) | min | max |", "|---|---|---|---|---|",
                  f"| bench-floor | {len(st['floor'])} | {fmt(f)} | {fmt(min(st['floor']))} | "
                  f"{fmt(max(st['floor']))} |",
                  f"| devauthd | {len(st['devauthd'])} | {fmt(d)} | {fmt(min(st['devauthd']))} | "
                  f"{fmt(max(st['devauthd']))} |"]
        if st.get("devauthd_netlink"):
            n = median(st["devauthd_netlink"])
            lines.append(f"| devauthd, `GIO_USE_NETWORK_MONITOR=netlink` (diagnostic) | "
                         f"{len(st['devauthd_netlink'])} | {fmt(n)} | "
                         f"{fmt(min(st['devauthd_netlink']))} | {fmt(max(st['devauthd_netlink']))} |")
        lines += ["", f"Ratio {fmt(d / f, 2)}×" + (f" (with the netlink monitor: {fmt(n / f, 2)}×)"
                                                   if st.get("devauthd_netlink") else "") + ".", ""]
        targets.append(("start-up ≤ 2× floor", f"{fmt(d / f, 2)}×", d / f <= 2))

    if many:
        lines += ["## 7. IdP load", "", "### Polls per approved login", "",
                  "IdP `--interval 2`; the login is approved (`/_test/approve`) after the delay "
                  "shown; polls counted at the IdP, including 1 s + interval after the tokens "
                  "(none may follow them).", "",
                  "| approved after (s) | interval | polls | ceil(approval / interval) | results |",
                  "|---|---|---|---|---|"]
        ok_polls = True
        for row in many["polls"]:
            lines.append(f"| {row['approval_s']} | {row['interval']} | {row['polls']} | "
                         f"{row['expected']} | {', '.join(row['results'])} |")
            ok_polls = ok_polls and row["polls"] == row["expected"]
        targets.append(("polls per login = ceil(approval / interval)",
                        ", ".join(f"{r['polls']}/{r['expected']}" for r in many["polls"]),
                        ok_polls))
        lines += ["", "### Refreshes per hour per account vs the token lifetime", "",
                  "One daemon, one account per IdP, each IdP with its own `--access-ttl`; "
                  "refreshes counted at the IdP over the window and extrapolated to an hour. "
                  "The design refreshes at ~75 % of the life with jitter of −10 %…+5 %, i.e. "
                  "on average every 0.725 × lifetime.", "",
                  "| lifetime (s) | window (s) | refreshes | per hour | one per lifetime | "
                  "design (1/0.725 L) | measured / design |", "|---|---|---|---|---|---|---|"]
        for r in many["refresh_rates"]:
            lines.append(f"| {r['lifetime_s']} | {r['window_s']} | {r['refreshes']} | "
                         f"{r['per_hour']} | {r['one_per_lifetime_per_hour']} | "
                         f"{r['design_per_hour']} | {fmt(r['per_hour'] / r['design_per_hour'], 2)} |")
        sp = many["spread"]
        bins = sp["bins_5s"]
        peak1 = max(sp["bins_1s"]) if sp["bins_1s"] else 0
        mean1 = sp["refreshes"] / max(1, len(sp["bins_1s"]))
        lines += ["", f"### Spread of {many['accounts']} accounts' refreshes", "",
                  f"{many['accounts']} accounts on one IdP (`--access-ttl {sp['ttl']}`), all signed "
                  f"in within {sp['login_span_s']} s (a burst of logins: the worst start); "
                  f"refresh requests at the IdP over the next {sp['window_s']} s in 5 s bins. "
                  f"Results: {sp['results']}. Busiest second: {peak1} refreshes "
                  f"(mean over the window {fmt(mean1, 1)}/s).", "", "```"]
        scale = max(bins) if bins and max(bins) > 0 else 1
        for i, v in enumerate(bins):
            lines.append(f"{i * 5:4d}-{i * 5 + 5:<4d}s {v:5d} " + "#" * int(round(60 * v / scale)))
        lines += ["```", ""]

    lines += report_keycloak(R.get("keycloak"))

    lines += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    for name, value, ok in targets:
        lines.append(f"| {name} | {value} | {met(ok)} |")
    lines.append("")
    notes = R.get("notes")
    if notes:
        lines += ["## Notes", ""] + notes + [""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def save_partial(args):
    """results.json as far as it goes, so that a failure later keeps it"""
    with open(args.json, "w") as f:
        json.dump(R, f, indent=1, default=str)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(B.HERE, "RESULTS.md"))
    ap.add_argument("--json", default=os.path.join(B.HERE, "results.json"))
    ap.add_argument("--notes", default=os.path.join(B.HERE, "notes.md"),
                    help="hand-written analysis appended to the report when present")
    ap.add_argument("--only", default=",".join(EVERYTHING))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--cli-runs", type=int, default=300)
    ap.add_argument("--startup-runs", type=int, default=30)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--spread-ttl", type=int, default=60)
    ap.add_argument("--spread-window", type=int, default=150)
    ap.add_argument("--kc-approval-delay", type=float, default=3.0,
                    help="keycloak: seconds from the code shown to the approval")
    ap.add_argument("--kc-refresh-rounds", type=int, default=30)
    ap.add_argument("--kc-idle-window", type=int, default=240,
                    help="keycloak: seconds of the idle window (15 s access tokens)")
    ap.add_argument("--kc-busy-window", type=int, default=120,
                    help="keycloak: seconds of the window with a caller every 3 s")
    ap.add_argument("--report-only", action="store_true",
                    help="render RESULTS.md again from results.json (and notes.md); measure nothing")
    args = ap.parse_args()
    args.only = set(args.only.split(","))
    unknown = args.only - set(EVERYTHING)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.report_only:
        with open(args.json) as f:
            R.update(json.load(f))
        R.pop("notes", None)
        if os.path.exists(args.notes):
            with open(args.notes) as f:
                R["notes"] = f.read().splitlines()
        write_report(args.out)
        return
    if os.geteuid() != 0:
        raise SystemExit("bench/run runs as root (as the integration tests)")
    R["machine"] = B.machine()
    R["load_start"] = B.loadavg()
    log("machine", R["machine"]["cpu"], "load", R["load_start"])
    # the keycloak section describes its own run (R["keycloak"]["run"]):
    # run alone, it leaves the machine, times and loads of the others as they were
    keycloak_only = args.only == {"keycloak"}
    if args.only != set(EVERYTHING) and os.path.exists(args.json):
        # some sections only: the others keep their figures from the last run
        with open(args.json) as f:
            old = json.load(f)
        old.pop("notes", None)
        keep_new = () if keycloak_only else ("machine", "load_start")
        R.update({k: v for k, v in old.items() if k not in keep_new})
        R["rerun"] = R.get("rerun", []) + [f"{','.join(sorted(args.only))} at "
                                            f"{time.strftime('%H:%M')}"]
    if args.only & {"transport", "cli", "memory", "startup"}:
        for key, value in world_transport(args).items():
            if key == "memory" and isinstance(R.get("memory"), dict):
                R["memory"].update(value)
            else:
                R[key] = value
        save_partial(args)
    if "singleflight" in args.only:
        R["singleflight"] = singleflight()
    if "memory" in args.only:
        R.setdefault("memory", {})["tls"] = memory_tls()
    save_partial(args)
    if "idpload" in args.only:
        R["idpload"] = world_idpload(args)
        save_partial(args)
    if "keycloak" in args.only:
        R["keycloak"] = world_keycloak(args)
    if not keycloak_only:
        R["load_end"] = B.loadavg()
        R["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    if os.path.exists(args.notes):
        with open(args.notes) as f:
            R["notes"] = f.read().splitlines()
    with open(args.json, "w") as f:
        json.dump(R, f, indent=1, default=str)
    write_report(args.out)
    log("wrote", args.out)


if __name__ == "__main__":
    main()
