#!/bin/bash
# The README's demo command, run as a person would (the packages are there;
# the build is made again, with its progress shown), with an approver that
# reads the screen and fills in the IdP's HTML forms. With --keycloak, the
# same against the real Keycloak (the suite's, by DEVAUTH_KEYCLOAK_STATE).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-}
user=demo-user
if [ "$mode" = --keycloak ]; then
	[ -n "${DEVAUTH_KEYCLOAK_STATE:-}" ] || { echo "FAIL: DEVAUTH_KEYCLOAK_STATE is not set"; exit 1; }
	user=alice
fi
# the demo's files (and so its processes' command lines) under a directory
# of this run's own: the two demos may run at the same time
tmp=$(mktemp -d)
out=$tmp/out
trap 'rm -rf "$tmp"' EXIT
rc=0
env -u DEVAUTH_MESON_OPTIONS TMPDIR=$tmp DEVAUTH_DEMO_SKIP_DEPS=1 DEVAUTH_DEMO_AUTO_APPROVE=1 timeout 150 "$top/tools/demo" $mode </dev/null >"$out" 2>&1 || rc=$?
fail() {
	echo "FAIL: $*"
	# the logs of the demo's parts first (the demo prints them on its
	# way out), then everything the person saw
	sed -n '/^---- [a-z]*\.log (last/,$p' "$out"
	echo "---- the demo's output ----"
	sed '/^---- [a-z]*\.log (last/,$d' "$out"
	exit 1
}
[ "$rc" = 0 ] || fail "the demo exited with $rc"
grep -q "^To sign in, visit" "$out" || fail "no verification URL shown"
grep -q "^or scan this QR code" "$out" || fail "no QR code shown"
if [ "$mode" = --keycloak ]; then
	# by name (the ID token's preferred_username), not Keycloak's subject UUID
	grep -q "^Signed in as alice.$" "$out" || fail "devauthctl did not report the sign-in as alice's"
	grep -q "^ *User: alice$" "$out" || fail "devauthctl status did not name alice"
	grep -q '"preferred_username":"alice"' "$out" || fail "Keycloak's userinfo did not accept the token as alice's"
else
	grep -q "^Signed in as $user.$" "$out" || fail "devauthctl did not report the sign-in"
	grep -q '"sub":"demo-user"' "$out" || fail "the IdP's userinfo did not accept the token"
fi
grep -q "State: signed-in" "$out" || fail "devauthctl status did not show signed-in"
# what it started and where to look: the bus and devauthd (and the IdP it
# starts itself), each with its PID and log
started=$(grep -cE "^   pid [0-9]+; log: $tmp/devauth-demo\.[^/]+/[a-z]+\.log$" "$out" || true)
want=3
[ "$mode" = --keycloak ] && want=2
[ "$started" = "$want" ] || fail "the demo named $started of $want processes with their PID and log"
grep -q "^== Building devauthd in " "$out" || fail "the demo did not say it builds"
grep -qE "^   (already built|100% \([0-9]+ of [0-9]+ steps\))$" "$out" || fail "no build progress shown"
left=$(pgrep -f "$tmp/devauth-demo\." || true)
[ -z "$left" ] || fail "processes left behind: $left"
echo "demo ok"
