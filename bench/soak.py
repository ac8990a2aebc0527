#!/usr/bin/python3
"""devauthd soak: run by bench/soak (see there for the options).

A world of its own: the loopback IdP with short access tokens and rotated
refresh tokens, the fault proxy of tests/faults in front of it, devauthd
with many accounts signed in, and C clients (bench-client soak) calling
GetToken in a paced loop over all the accounts. Meanwhile the IdP "goes
away" twice (the proxy stops listening: connection refused) and is
firewalled once (the proxy answers nothing: requests stall).

The IdP is not really restarted: it keeps its grants in memory, so a real
restart would send every account to reauth-required (tests/faults covers
that case, faults.idp_restarted). The proxy's outages are the transient
kind, after which nothing may be lost.

Checks: no failed call while the IdP was reachable (calls that started at
least GRACE_S after an outage ended, FIREWALL_GRACE_S after a firewall, and
ended before the next began), every
account still signed in at the end with no reauth-required on the way,
devauthd alive, no growth trend in its RSS. Reports the failed calls during
outages, the maximum latency, RSS at start and end and the refresh count
against the expected one. Exit status 0 when every check passed.
"""

import argparse
import glob
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
from benchlib import harness, log  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

GRACE_S = 1.0
# a sanitizer build answers several times slower (DEVAUTH_TEST_SLOWDOWN)
HTTP_TIMEOUT_S = round(5 * harness.SLOWDOWN)
# After a firewall outage, a refresh sent into it fails only at the HTTP
# timeout, and the next attempt waits for the backoff (2 s, then 4 s, each
# plus up to a quarter: daemon/da-account.c); until then an expired token
# cannot be renewed. Calls that start in that window count with the outage.
FIREWALL_GRACE_S = HTTP_TIMEOUT_S + 5 + GRACE_S


def _sanitized():
    """Whether the devauthd under test is built with AddressSanitizer."""
    try:
        with open(harness.env_path("DEVAUTHD"), "rb") as f:
            return b"__asan_init" in f.read()
    except (OSError, harness.TestFailure):
        return False


SANITIZED = _sanitized()


def schedule(duration, short):
    """[(start offset s, kind, length s)]"""
    if short:
        return [(12, "down", 3), (24, "down", 3), (36, "firewall", 10)]
    return [(120, "down", 10), (260, "down", 10), (400, "firewall", 30)]


def linear_slope(points):
    """Least-squares slope of [(x, y)]."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / var if var else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="about 60 s (the meson test)")
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--ttl", type=int, default=5, help="access token lifetime (s)")
    ap.add_argument("--interval-ms", type=int, default=50, help="each client's pause between calls")
    ap.add_argument("--report", default=None, help="write the report (Markdown) here too")
    args = ap.parse_args()
    if args.short:
        args.duration = 60
    if SANITIZED:
        # the same paths at a load an ASan build serves: it is several
        # times slower, and 20 clients would measure the sanitizer
        args.clients = max(1, args.clients // 4)
        log(f"devauthd is built with AddressSanitizer: {args.clients} clients")
    if os.geteuid() != 0:
        raise SystemExit("bench/soak runs as root (as the integration tests)")
    duration = args.duration
    plan = schedule(duration, args.short)
    result = {"duration_s": duration, "accounts": args.accounts, "clients": args.clients,
              "ttl_s": args.ttl, "interval_ms": args.interval_ms, "outages": [],
              "machine": {"cpu": B.machine()["cpu"], "load_start": B.loadavg(),
                          "source": B.machine()["source"]}}
    failures = []
    h = B.new_harness("soak", extra_policy=None)
    rss = []
    stop_sampling = threading.Event()
    try:
        h.start_idp("--interval", "1", "--access-ttl", str(args.ttl), "--rotate-refresh")
        proxy = FaultProxy(h.idp.origin)
        h.add_cleanup(proxy.stop)
        issuer = proxy.origin + urllib.parse.urlsplit(h.idp.issuer).path
        h.start_bus()
        names = [f"s{i:02d}" for i in range(args.accounts)]
        B.start_daemon(h, {n: harness.account_conf(issuer) for n in names},
                       {"HttpTimeoutSec": str(HTTP_TIMEOUT_S)})
        B.sign_in_many(h, names)
        pid = B.daemon_pid(h)
        since_signals = h.mark()
        out_dir = os.path.join(h.tmp, "soak-clients")
        os.makedirs(out_dir)

        def sample():
            t0 = time.time()
            while not stop_sampling.is_set():
                try:
                    rss.append((time.time() - t0, B.rss_kib(pid)))
                except OSError:
                    return
                stop_sampling.wait(5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=h.bus.address)
        client_log = open(os.path.join(h.tmp, "soak-client.log"), "w")
        clients = harness.Process(
            "bench-client",
            [B.exe("bench-client"), "soak", "--dest", harness.BUS_NAME, "--clients",
             str(args.clients), "--seconds", str(duration), "--accounts", ",".join(names),
             "--interval-ms", str(args.interval_ms), "--min-validity", "0",
             "--timeout-ms", "30000", "--out", out_dir],
            env=env, stdout=client_log, stderr=client_log)
        client_log.close()
        h.add_cleanup(clients.stop)
        t_start = time.time()
        proxy_mark = t_start
        log(f"soak: {len(names)} accounts, {args.clients} clients, {duration:.0f} s; outages {plan}")
        for offset, kind, length in plan:
            time.sleep(max(0, t_start + offset - time.time()))
            harness.check(h.daemon.proc.poll() is None, "devauthd died")
            begin = time.time()
            if kind == "down":
                proxy.set_down(True)
            else:
                proxy.set_fault("*", "stall", seconds=length + 5)
            time.sleep(length)
            if kind == "down":
                proxy.set_down(False)
            else:
                proxy.clear_faults()
            end = time.time()
            result["outages"].append({"kind": kind, "start": begin, "end": end,
                                      "offset_s": round(begin - t_start, 1),
                                      "length_s": round(end - begin, 1)})
            log(f"soak: {kind} outage of {end - begin:.1f} s at +{begin - t_start:.0f} s")
        rc = clients.wait(duration + 120 - (time.time() - t_start))
        harness.check(rc == 0, f"bench-client soak exited {rc}")
        t_end = time.time()
        stop_sampling.set()
        sampler.join(10)
        harness.check(h.daemon.proc.poll() is None, "devauthd died")

        # the clients' records
        calls = 0
        errors = []
        per_second_max = []
        for path in sorted(glob.glob(os.path.join(out_dir, "client-*.json"))):
            with open(path) as f:
                rec = json.load(f)
            calls += rec["calls"]
            errors.extend(rec["errors"])
            for i, (n, mx) in enumerate(rec["per_second"]):
                if n:
                    per_second_max.append((rec["start"] + i, mx))
        harness.check(len(glob.glob(os.path.join(out_dir, "client-*.json"))) == args.clients,
                      "not every client wrote its record")

        def in_outage(t, grace=0.0, until=None):
            """[t, until] meets an outage, or the grace seconds after one
            (after a firewall, FIREWALL_GRACE_S when grace is given)."""
            until = t if until is None else until
            return any(o["start"] <= until and t < o["end"] + (
                       FIREWALL_GRACE_S if grace and o["kind"] == "firewall" else grace)
                       for o in result["outages"])

        # a call that began just before an outage and whose refresh met it
        # failed because of it: an error is [start, latency ms, account, name]
        def error_in_outage(e):
            return in_outage(e[0], GRACE_S, e[0] + e[1] / 1000)

        reachable_errors = [e for e in errors if not error_in_outage(e)]
        outage_errors = [e for e in errors if error_in_outage(e)]
        kinds = {}
        for e in outage_errors:
            kinds[e[3]] = kinds.get(e[3], 0) + 1
        lat_reach = [mx for t, mx in per_second_max if not in_outage(t, GRACE_S)
                     and not in_outage(t + 1, 0)]
        lat_all = [mx for _, mx in per_second_max]
        outage_s = sum(o["end"] - o["start"] for o in result["outages"])
        refreshes = proxy.requests("refresh", since=proxy_mark)
        forwarded = [r for r in refreshes if r[2] == "forwarded"]
        idp_results = {}
        for r in h.idp.stats()["refreshes"]:
            if r["t"] / 1000 >= t_start:
                idp_results[r["result"]] = idp_results.get(r["result"], 0) + 1
        reachable_s = (t_end - t_start) - outage_s
        states = {}
        for n in names:
            st = h.properties(n)["State"]
            states[st] = states.get(st, 0) + 1
        reauth = [s for s in h.signals.signals[since_signals:] if s["state"] != "signed-in"]
        half = [p for p in rss if p[0] >= (t_end - t_start) / 2]
        result.update({
            "calls": calls,
            "calls_per_s": round(calls / (t_end - t_start), 1),
            "failed_while_reachable": len(reachable_errors),
            "failed_while_reachable_examples": reachable_errors[:10],
            "failed_during_outages": len(outage_errors),
            "failed_during_outages_by_error": kinds,
            "max_latency_ms_reachable": round(max(lat_reach), 1) if lat_reach else None,
            "max_latency_ms_all": round(max(lat_all), 1) if lat_all else None,
            "rss_kib_start": rss[0][1] if rss else None,
            "rss_kib_end": rss[-1][1] if rss else None,
            "rss_kib_max": max(p[1] for p in rss) if rss else None,
            "rss_slope_kib_per_min_second_half": round(linear_slope(half) * 60, 1),
            "rss_samples": rss,
            "refresh_requests": len(refreshes),
            "refresh_forwarded": len(forwarded),
            "idp_refresh_results": idp_results,
            "reachable_s": round(reachable_s, 1),
            "refresh_expected_one_per_lifetime": round(args.accounts * reachable_s / args.ttl),
            "refresh_expected_design": round(args.accounts * reachable_s / (0.75 * args.ttl)),
            "states_at_end": states,
            "status_changes_away_from_signed_in": [(s["account"], s["state"]) for s in reauth][:10],
        })
        if reachable_errors:
            failures.append(f"{len(reachable_errors)} calls failed while the IdP was reachable, "
                            f"e.g. {reachable_errors[:3]}")
        if states.get("signed-in", 0) != len(names):
            failures.append(f"accounts not signed in at the end: {states}")
        if reauth:
            failures.append(f"accounts left signed-in on the way: {result['status_changes_away_from_signed_in']}")
        bad = {k: v for k, v in idp_results.items() if k != "tokens"}
        if bad:
            failures.append(f"refreshes the IdP refused: {bad}")
        growth = (rss[-1][1] - rss[0][1]) if len(rss) >= 2 else 0
        # a trend, not noise: both the slope and the total must be large.
        # Under AddressSanitizer RSS is its allocator's (quarantine, shadow
        # memory), not devauthd's; LeakSanitizer judges leaks at exit there.
        if SANITIZED:
            print("RSS trend not judged: devauthd is built with AddressSanitizer", file=sys.stderr)
        elif result["rss_slope_kib_per_min_second_half"] > 256 and growth > 4096:
            failures.append(f"RSS grows: {rss[0][1]} → {rss[-1][1]} KiB, "
                            f"{result['rss_slope_kib_per_min_second_half']} KiB/min")
    except BaseException:
        print(h.diagnostics()[-8000:], file=sys.stderr)
        raise
    finally:
        stop_sampling.set()
        problems = h.close(keep=bool(failures))
        if problems:
            failures.append(f"teardown: {problems}")
    result["load_end"] = B.loadavg()
    result["failures"] = failures
    text = report(result)
    print(text)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.report)[0] + ".json", "w") as f:
            json.dump(result, f, indent=1)
    n_checks = 5
    print(f"soak: {n_checks - min(len(failures), n_checks)} passed, {min(len(failures), n_checks)} failed")
    return 1 if failures else 0


def report(r):
    lines = [f"# devauthd soak ({r['duration_s']:.0f} s)", "",
             f"{r['accounts']} accounts with {r['ttl_s']} s access tokens (`--rotate-refresh`), "
             f"{r['clients']} C clients (one connection each) calling GetToken (min-validity 0) "
             f"round-robin over the accounts with {r['interval_ms']} ms between calls; "
             f"HttpTimeoutSec={HTTP_TIMEOUT_S}. Source {r['machine'].get('source', '?')}; CPU "
             f"{r['machine']['cpu']}; load {r['machine']['load_start']} → {r['load_end']}.", "",
             "Outages (through the fault proxy; the IdP itself keeps running, since a restart "
             "of the loopback IdP loses its grants — that case is `faults.idp_restarted`): "
             + "; ".join(f"{o['kind']} {o['length_s']} s at +{o['offset_s']} s"
                         for o in r["outages"])
             + " (down = connection refused, firewall = no answer).", "",
             "| measure | value | target |", "|---|---|---|",
             f"| calls | {r.get('calls')} ({r.get('calls_per_s')}/s) | |",
             f"| failed calls while the IdP was reachable | {r.get('failed_while_reachable')} | 0 |",
             f"| failed calls during outages (or within {GRACE_S} s after; "
             f"{FIREWALL_GRACE_S} s after a firewall) | "
             f"{r.get('failed_during_outages')} {r.get('failed_during_outages_by_error')} | "
             "(expected once tokens expire) |",
             f"| max latency, seconds without an outage (ms) | {r.get('max_latency_ms_reachable')} | |",
             f"| max latency, all (ms) | {r.get('max_latency_ms_all')} | GetToken waits ≤ 10 s |",
             f"| devauthd RSS start → end (max) KiB | {r.get('rss_kib_start')} → "
             f"{r.get('rss_kib_end')} ({r.get('rss_kib_max')}) | no growth trend |",
             f"| RSS slope over the second half | {r.get('rss_slope_kib_per_min_second_half')} KiB/min | ~0 |",
             f"| refresh requests (forwarded to the IdP) | {r.get('refresh_requests')} "
             f"({r.get('refresh_forwarded')}) | |",
             f"| expected over {r.get('reachable_s')} s reachable: one per lifetime / at 75 % | "
             f"{r.get('refresh_expected_one_per_lifetime')} / {r.get('refresh_expected_design')} | |",
             f"| IdP refresh results | {r.get('idp_refresh_results')} | all `tokens` |",
             f"| account states at the end | {r.get('states_at_end')} | all signed-in |", ""]
    if r["failures"]:
        lines += ["**FAILED:**", ""] + [f"- {f}" for f in r["failures"]] + [""]
    else:
        lines += ["All checks passed.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
