#!/bin/bash
# The README's demo command, run as a person would, with an approver that
# reads the screen and fills in the IdP's HTML forms.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
DEVAUTH_DEMO_SKIP_SETUP=1 DEVAUTH_DEMO_AUTO_APPROVE=1 timeout 150 "$top/tools/demo" </dev/null >"$out" 2>&1 || rc=$?
fail() {
	echo "FAIL: $*"
	cat "$out"
	exit 1
}
[ "$rc" = 0 ] || fail "the demo exited with $rc"
grep -q "^To sign in, visit" "$out" || fail "no verification URL shown"
grep -q "^or scan this QR code" "$out" || fail "no QR code shown"
grep -q "^Signed in as demo-user.$" "$out" || fail "devauthctl did not report the sign-in"
grep -q "State: signed-in" "$out" || fail "devauthctl status did not show signed-in"
grep -q '"sub":"demo-user"' "$out" || fail "the IdP's userinfo did not accept the token"
left=$(pgrep -f "devauth-demo\." || true)
[ -z "$left" ] || fail "processes left behind: $left"
echo "demo ok"
