#!/usr/bin/env bash
# Self-test of the loopback identity provider (server.mjs) and of approve.mjs.
# Starts servers on free loopback ports, checks them with curl and approve.mjs,
# stops them by PID. Prints "N passed, N failed"; exits non-zero on a failure.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODE=${NODE:-node}
CURL=(curl -sS --max-time 10 --noproxy '*')

PASS=0
FAIL=0
PIDS=()
TMP=$(mktemp -d "${TMPDIR:-/tmp}/idp-selftest.XXXXXX")

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL - $1${2:+ ($2)}"; }

# check DESCRIPTION EXPECTED ACTUAL
check() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

# j PATH <<< JSON: prints the value at a dotted path ('' when missing;
# objects and arrays as JSON). A plain string, number or boolean member of a
# flat object is read in bash (a node process per lookup costs ~0.1 s).
j() {
	local input re
	input=$(</dev/stdin)
	if [[ $1 != *.* ]]; then
		if [[ $input != *"\"$1\":"* ]]; then
			return 0
		fi
		re="\"$1\":(\"([^\"\\]*)\"|(-?[0-9][0-9.eE+-]*|true|false)[,}])"
		if [[ $input =~ $re ]]; then
			printf '%s\n' "${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
			return 0
		fi
	fi
	"$NODE" -e '
let d;
try { d = JSON.parse(require("fs").readFileSync(0, "utf8")); } catch { process.exit(0); }
for (const k of process.argv[1].split(".")) d = d == null ? undefined : d[k];
if (d !== undefined && d !== null) console.log(typeof d === "object" ? JSON.stringify(d) : String(d));
' "$1" <<<"$input"
}

# js EXPR <<< JSON: prints the result of EXPR with the parsed JSON as `d`.
js() {
	"$NODE" -e '
const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
const r = (0, eval)("(d) => (" + process.argv[1] + ")")(d);
console.log(typeof r === "object" ? JSON.stringify(r) : String(r));
' "$1"
}

# req METHOD URL [curl args...]: sets BODY and CODE.
req() {
	local method=$1 url=$2 out
	shift 2
	out=$("${CURL[@]}" -X "$method" -w '\n%{http_code}' "$@" "$url") || out=$'\n000'
	CODE=${out##*$'\n'}
	BODY=${out%$'\n'*}
}

# start NAME ARGS...: starts a server, waits for its ready file; sets ISS.
start() {
	local name=$1 ready="$TMP/$1.ready" i pid
	shift
	"$NODE" "$HERE/server.mjs" --ready-file "$ready" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	pid=$!
	PIDS+=("$pid")
	for i in $(seq 1 100); do
		[ -s "$ready" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -s "$ready" ]; then
		fail "$name: server started" "$(cat "$TMP/$name.err")"
		return 1
	fi
	ISS=$(j issuer <"$ready")
	check "$name: ready file names its pid" "$pid" "$(j pid <"$ready")"
	check "$name: READY line on stdout" "READY $ISS" "$(cat "$TMP/$name.out")"
}

DEVICE_GRANT=urn:ietf:params:oauth:grant-type:device_code

# poll DEVICE_CODE [curl args...]: one token request; sets BODY, CODE, ERR.
poll() {
	local dc=$1
	shift
	req POST "$TOKEN" -d grant_type="$DEVICE_GRANT" -d device_code="$dc" "$@"
	ERR=$(j error <<<"$BODY")
}

# device [curl args...]: device authorization request; sets DA_* variables.
device() {
	req POST "$DEVAUTH" "$@"
	DA=$BODY
	DA_CODE=$CODE
	DA_DC=$(j device_code <<<"$DA")
	DA_UC=$(j user_code <<<"$DA")
	DA_URI=$(j verification_uri <<<"$DA")
	DA_URIC=$(j verification_uri_complete <<<"$DA")
}

discover() {
	req GET "$ISS/.well-known/openid-configuration"
	DISCO=$BODY
	TOKEN=$(j token_endpoint <<<"$DISCO")
	DEVAUTH=$(j device_authorization_endpoint <<<"$DISCO")
	USERINFO=$(j userinfo_endpoint <<<"$DISCO")
	REVOKE=$(j revocation_endpoint <<<"$DISCO")
	INTROSPECT=$(j introspection_endpoint <<<"$DISCO")
}

if [ ! -d "$HERE/node_modules/oidc-provider" ]; then
	echo "# npm ci in $HERE"
	(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi

STARTED=$(date +%s)

# =====================================================================
# A: default paths, --slow-down with interval 1, short lifetimes
# =====================================================================
if start A --slow-down --interval 1 --device-code-ttl 4 --access-ttl 4 --refresh-ttl 60; then
	C=(-d client_id=devauth-demo)
	discover
	check "A: discovery answers" 200 "$CODE"
	check "A: discovery issuer matches" "$ISS" "$(j issuer <<<"$DISCO")"
	check "A: token endpoint" "$ISS/token" "$TOKEN"

	# A code left to expire (device-code-ttl 4), polled at the end.
	device "${C[@]}" -d scope=openid
	EXP_DC=$DA_DC

	# A token whose expiry (access-ttl 4) is checked at the end.
	device "${C[@]}" -d scope=openid
	req POST "$ISS/_test/approve" -d user_code="$DA_UC" -d sub=early
	check "A: /_test/approve" 200 "$CODE"
	poll "$DA_DC" "${C[@]}"
	EARLY_AT=$(j access_token <<<"$BODY")
	# both lifetimes (4 s) started before this moment
	T0=$(date +%s)
	req GET "$USERINFO" -H "Authorization: Bearer $EARLY_AT"
	check "A: userinfo with a fresh access token" 200 "$CODE"

	# The device flow, approved through the real forms.
	device "${C[@]}" -d scope='openid profile'
	check "A: device authorization answers" 200 "$DA_CODE"
	[ -n "$DA_DC" ] && [ -n "$DA_UC" ] && ok "A: device_code and user_code" || fail "A: device_code and user_code" "$DA"
	check "A: verification_uri" "$ISS/device" "$DA_URI"
	check "A: verification_uri_complete" "$ISS/device?user_code=$DA_UC" "$DA_URIC"
	check "A: interval" 1 "$(j interval <<<"$DA")"
	check "A: expires_in" 4 "$(j expires_in <<<"$DA")"
	DC=$DA_DC
	poll "$DC" "${C[@]}"
	check "A: poll before approval: authorization_pending" "400 authorization_pending" "$CODE $ERR"
	poll "$DC" "${C[@]}"
	check "A: poll sooner than interval: slow_down" "400 slow_down" "$CODE $ERR"
	OUT=$("$NODE" "$HERE/approve.mjs" --uri "$DA_URIC" --user alice --password secret 2>&1)
	check "A: approve.mjs approves via the HTML forms" approved "$OUT"
	sleep 1.1
	poll "$DC" "${C[@]}"
	check "A: poll after approval: 200" 200 "$CODE"
	AT=$(j access_token <<<"$BODY")
	RT=$(j refresh_token <<<"$BODY")
	[ -n "$AT" ] && [ -n "$RT" ] && ok "A: access_token and refresh_token (no offline_access asked)" || fail "A: access_token and refresh_token" "$BODY"
	check "A: token_type" Bearer "$(j token_type <<<"$BODY")"
	check "A: refresh_expires_in" 60 "$(j refresh_expires_in <<<"$BODY")"
	poll "$DC" "${C[@]}"
	check "A: poll again after the tokens: invalid_grant" "400 invalid_grant" "$CODE $ERR"

	req GET "$USERINFO" -H "Authorization: Bearer $AT"
	check "A: userinfo: 200" 200 "$CODE"
	check "A: userinfo sub is the user name" alice "$(j sub <<<"$BODY")"
	check "A: userinfo name (profile scope)" alice "$(j name <<<"$BODY")"

	req POST "$INTROSPECT" "${C[@]}" -d token="$AT"
	check "A: introspection: active" "200 true alice" "$CODE $(j active <<<"$BODY") $(j sub <<<"$BODY")"

	req POST "$TOKEN" "${C[@]}" -d grant_type=refresh_token -d refresh_token="$RT"
	check "A: refresh grant: 200" 200 "$CODE"
	AT2=$(j access_token <<<"$BODY")
	[ -n "$AT2" ] && [ "$AT2" != "$AT" ] && ok "A: refresh gives a new access token" || fail "A: refresh gives a new access token" "$BODY"
	RTK=$(j refresh_token <<<"$BODY")
	# as Keycloak: a new refresh token each time, and the old one stays valid
	[ -n "$RTK" ] && [ "$RTK" != "$RT" ] && ok "A: a new refresh token by default (as Keycloak)" || fail "A: a new refresh token by default (as Keycloak)" "$BODY"
	req POST "$TOKEN" "${C[@]}" -d grant_type=refresh_token -d refresh_token="$RT"
	check "A: the old refresh token works again (as Keycloak)" 200 "$CODE"
	req POST "$TOKEN" "${C[@]}" -d grant_type=refresh_token -d refresh_token="$RTK"
	check "A: the new refresh token works" 200 "$CODE"

	req POST "$REVOKE" "${C[@]}" -d token="$RT" -d token_type_hint=refresh_token
	check "A: revocation (RFC 7009): 200" 200 "$CODE"
	req POST "$TOKEN" "${C[@]}" -d grant_type=refresh_token -d refresh_token="$RT"
	check "A: refresh after revocation: invalid_grant" "400 invalid_grant" "$CODE $(j error <<<"$BODY")"
	req GET "$USERINFO" -H "Authorization: Bearer $AT2"
	check "A: userinfo after revocation: 401" 401 "$CODE"

	# Denial through the real forms: verification_uri plus --code.
	device "${C[@]}" -d scope=openid
	OUT=$("$NODE" "$HERE/approve.mjs" --uri "$DA_URI" --code "$DA_UC" --deny 2>&1)
	check "A: approve.mjs --deny" denied "$OUT"
	poll "$DA_DC" "${C[@]}"
	check "A: poll after denial: access_denied" "400 access_denied" "$CODE $ERR"
	OUT=$("$NODE" "$HERE/approve.mjs" --uri "$DA_URIC" 2>&1)
	[ $? -eq 1 ] && ok "A: approve.mjs fails on a used code" || fail "A: approve.mjs fails on a used code" "$OUT"

	# /_test/deny, wrong codes, bad user code.
	device "${C[@]}"
	req POST "$ISS/_test/deny" -H 'content-type: application/json' -d "{\"user_code\":\"$DA_UC\"}"
	check "A: /_test/deny" 200 "$CODE"
	poll "$DA_DC" "${C[@]}"
	check "A: poll after /_test/deny: access_denied" "400 access_denied" "$CODE $ERR"
	poll "no-such-code" "${C[@]}"
	check "A: unknown device code: invalid_grant" "400 invalid_grant" "$CODE $ERR"
	req POST "$ISS/_test/approve" -d user_code=BBBB-BBBB
	check "A: /_test/approve of an unknown code: 404" 404 "$CODE"

	# /_test/approve, then /_test/revoke-all.
	device "${C[@]}" -d scope='openid offline_access'
	req POST "$ISS/_test/approve" -d user_code="$(tr 'A-Z' 'a-z' <<<"$DA_UC")" -d sub=carol
	check "A: /_test/approve (lower-case code)" "200 carol" "$CODE $(j sub <<<"$BODY")"
	poll "$DA_DC" "${C[@]}"
	check "A: poll after /_test/approve: tokens" 200 "$CODE"
	CAT=$(j access_token <<<"$BODY")
	CRT=$(j refresh_token <<<"$BODY")
	check "A: offline_access scope granted" "openid offline_access" "$(j scope <<<"$BODY")"
	req GET "$USERINFO" -H "Authorization: Bearer $CAT"
	check "A: userinfo sub after /_test/approve" "200 carol" "$CODE $(j sub <<<"$BODY")"

	# Expiry: the device code and the early access token are past their
	# lifetime (4 s, plus 1 s for the whole seconds of exp and of date).
	NOW=$(date +%s)
	[ $((NOW - T0)) -lt 6 ] && sleep $((6 - (NOW - T0)))
	poll "$EXP_DC" "${C[@]}"
	check "A: expired device code: expired_token" "400 expired_token" "$CODE $ERR"
	req GET "$USERINFO" -H "Authorization: Bearer $EARLY_AT"
	check "A: expired access token: userinfo 401 (no clock tolerance)" 401 "$CODE"

	req POST "$ISS/_test/revoke-all"
	check "A: /_test/revoke-all" 200 "$CODE"
	req POST "$TOKEN" "${C[@]}" -d grant_type=refresh_token -d refresh_token="$CRT"
	check "A: refresh after revoke-all: invalid_grant" "400 invalid_grant" "$CODE $(j error <<<"$BODY")"
	req GET "$USERINFO" -H "Authorization: Bearer $CAT"
	check "A: userinfo after revoke-all: 401" 401 "$CODE"

	# Stats.
	req GET "$ISS/_test/stats"
	STATS=$BODY
	check "A: /_test/stats" 200 "$CODE"
	check "A: stats: discovery" 1 "$(j counters.discovery <<<"$STATS")"
	check "A: stats: device_authorization" 6 "$(j counters.device_authorization <<<"$STATS")"
	check "A: stats: token_device_code = polls" \
		"$(js 'd.polls.length' <<<"$STATS")" "$(j counters.token_device_code <<<"$STATS")"
	check "A: stats: token_refresh" 5 "$(j counters.token_refresh <<<"$STATS")"
	check "A: stats: revocation, userinfo, introspection" "1 6 1" \
		"$(js '[d.counters.revocation, d.counters.userinfo, d.counters.introspection].join(" ")' <<<"$STATS")"
	check "A: stats: poll results in order" \
		"tokens authorization_pending slow_down tokens invalid_grant access_denied access_denied invalid_grant tokens expired_token" \
		"$(js 'd.polls.map((p) => p.result).join(" ")' <<<"$STATS")"
	check "A: stats: refresh results" "tokens tokens tokens invalid_grant invalid_grant" \
		"$(js 'd.refreshes.map((p) => p.result).join(" ")' <<<"$STATS")"
	check "A: stats: poll times ascend, pkce false" true \
		"$(js 'd.polls.every((p, i) => typeof p.t === "number" && p.pkce === false && (i === 0 || p.t >= d.polls[i - 1].t))' <<<"$STATS")"
	check "A: stats: requests carry grant_type" true \
		"$(js 'd.requests.some((r) => r.method === "POST" && r.path === "/token" && r.grant_type === "refresh_token")' <<<"$STATS")"
	req POST "$ISS/_test/reset-stats"
	req GET "$ISS/_test/stats"
	check "A: /_test/reset-stats" "0 0 0" \
		"$(js '[Object.values(d.counters).reduce((a, b) => a + b, 0), d.polls.length, d.requests.length].join(" ")' <<<"$BODY")"
fi

# =====================================================================
# B: Keycloak paths, no interval advertised (5 s for slow_down), rotation,
#    PKCE required, a confidential client and an extra public client
# =====================================================================
if start B --realm demo --interval 0 --slow-down --rotate-refresh --require-pkce \
	--client-secret s3cret --extra-client other-client; then
	BASE=${ISS%/realms/demo}
	KC="$BASE/realms/demo/protocol/openid-connect"
	check "B: issuer" "realms/demo" "${ISS#http://127.0.0.1:*/}"
	discover
	check "B: discovery issuer matches" "$ISS" "$(j issuer <<<"$DISCO")"
	check "B: Keycloak endpoints" \
		"$KC/auth/device $KC/token $KC/userinfo $KC/revoke $KC/token/introspect $KC/certs" \
		"$DEVAUTH $TOKEN $USERINFO $REVOKE $INTROSPECT $(j jwks_uri <<<"$DISCO")"
	req GET "$KC/certs"
	check "B: certs (JWKS) answers" "200 RS256" "$CODE $(js 'd.keys[0].alg' <<<"$BODY")"
	req GET "$BASE/.well-known/openid-configuration"
	check "B: nothing outside the realm" 404 "$CODE"

	read -r VER CHAL < <("$NODE" -e '
const c = require("crypto"); const v = c.randomBytes(32).toString("base64url");
console.log(v, c.createHash("sha256").update(v).digest("base64url"));')
	SEC=(-u devauth-demo:s3cret)
	POST_SEC=(-d client_id=devauth-demo -d client_secret=s3cret)

	device "${SEC[@]}" -d scope=openid
	check "B: PKCE required: no code_challenge" "400 invalid_request" "$DA_CODE $(j error <<<"$DA")"
	device "${SEC[@]}" -d scope=openid -d code_challenge="$CHAL" -d code_challenge_method=plain
	check "B: PKCE required: method plain refused" "400 invalid_request" "$DA_CODE $(j error <<<"$DA")"
	device -d client_id=devauth-demo -d scope=openid -d code_challenge="$CHAL" -d code_challenge_method=S256
	check "B: confidential client without a secret: invalid_client" "401 invalid_client" "$DA_CODE $(j error <<<"$DA")"

	# Missing verifier, wrong verifier: each on its own code (slow_down is 5 s).
	device "${SEC[@]}" -d scope=openid -d code_challenge="$CHAL" -d code_challenge_method=S256
	req POST "$BASE/_test/approve" -d user_code="$DA_UC"
	poll "$DA_DC" "${SEC[@]}"
	check "B: poll without code_verifier: invalid_grant" "400 invalid_grant" "$CODE $ERR"
	device "${SEC[@]}" -d scope=openid -d code_challenge="$CHAL" -d code_challenge_method=S256
	req POST "$BASE/_test/approve" -d user_code="$DA_UC"
	poll "$DA_DC" "${SEC[@]}" -d code_verifier="x${VER:1}"
	check "B: poll with a wrong code_verifier: invalid_grant" "400 invalid_grant" "$CODE $ERR"

	# The full flow: client_secret_post, the HTML forms under /realms/demo.
	device "${POST_SEC[@]}" -d scope='openid profile' -d code_challenge="$CHAL" -d code_challenge_method=S256
	check "B: device authorization with PKCE" 200 "$DA_CODE"
	check "B: interval omitted with --interval 0" "" "$(j interval <<<"$DA")"
	check "B: verification_uri" "$ISS/device" "$DA_URI"
	DC=$DA_DC
	FIRST_POLL=${EPOCHREALTIME/,/.}
	poll "$DC" "${POST_SEC[@]}" -d code_verifier="$VER"
	check "B: first poll: authorization_pending" "400 authorization_pending" "$CODE $ERR"
	poll "$DC" "${POST_SEC[@]}" -d code_verifier="$VER"
	check "B: second poll at once: slow_down (5 s default)" "400 slow_down" "$CODE $ERR"
	OUT=$("$NODE" "$HERE/approve.mjs" --uri "$DA_URIC" --user dave 2>&1)
	check "B: approve.mjs under /realms/demo" approved "$OUT"
	sleep "$("$NODE" -e 'console.log(Math.max(0, 5.2 - (Date.now() / 1000 - process.argv[1])).toFixed(2))' "$FIRST_POLL")"
	poll "$DC" "${SEC[@]}" -d code_verifier="$VER"
	check "B: poll with the right code_verifier: tokens" 200 "$CODE"
	AT=$(j access_token <<<"$BODY")
	RT=$(j refresh_token <<<"$BODY")
	req GET "$USERINFO" -H "Authorization: Bearer $AT"
	check "B: userinfo" "200 dave" "$CODE $(j sub <<<"$BODY")"

	req POST "$TOKEN" "${SEC[@]}" -d grant_type=refresh_token -d refresh_token="$RT"
	check "B: refresh: 200" 200 "$CODE"
	RT2=$(j refresh_token <<<"$BODY")
	[ -n "$RT2" ] && [ "$RT2" != "$RT" ] && ok "B: --rotate-refresh gives a new refresh token" || fail "B: --rotate-refresh gives a new refresh token" "$BODY"
	req POST "$TOKEN" "${POST_SEC[@]}" -d grant_type=refresh_token -d refresh_token="$RT2"
	check "B: rotated refresh token works (client_secret_post)" 200 "$CODE"
	RT3=$(j refresh_token <<<"$BODY")
	req POST "$TOKEN" "${SEC[@]}" -d grant_type=refresh_token -d refresh_token="$RT"
	check "B: replayed old refresh token: invalid_grant" "400 invalid_grant" "$CODE $(j error <<<"$BODY")"
	req POST "$TOKEN" "${SEC[@]}" -d grant_type=refresh_token -d refresh_token="$RT3"
	check "B: replay revoked the whole grant" "400 invalid_grant" "$CODE $(j error <<<"$BODY")"

	# Another account on the same IdP: the extra public client.
	device -d client_id=other-client -d scope=openid -d code_challenge="$CHAL" -d code_challenge_method=S256
	check "B: extra client: device authorization" 200 "$DA_CODE"
	req POST "$BASE/_test/approve" -H 'content-type: application/json' -d "{\"user_code\":\"$DA_UC\",\"sub\":\"erin\"}"
	poll "$DA_DC" -d client_id=other-client -d code_verifier="$VER"
	check "B: extra client: tokens" 200 "$CODE"
	OAT=$(j access_token <<<"$BODY")
	req GET "$USERINFO" -H "Authorization: Bearer $OAT"
	check "B: extra client: userinfo" "200 erin" "$CODE $(j sub <<<"$BODY")"

	req GET "$BASE/_test/stats"
	check "B: stats: pkce flag per poll" "false true true true true true" \
		"$(js 'd.polls.map((p) => p.pkce).join(" ")' <<<"$BODY")"
	check "B: stats: poll results" \
		"invalid_grant invalid_grant authorization_pending slow_down tokens tokens" \
		"$(js 'd.polls.map((p) => p.result).join(" ")' <<<"$BODY")"
fi

# =====================================================================
# Refusals and shutdown
# =====================================================================
OUT=$("$NODE" "$HERE/server.mjs" --host 192.0.2.1 2>&1)
RC=$?
[ $RC -ne 0 ] && [[ "$OUT" == *loopback* ]] && ok "a non-loopback --host is refused" || fail "a non-loopback --host is refused" "rc=$RC $OUT"
OUT=$("$NODE" "$HERE/approve.mjs" --uri http://192.0.2.1/device?user_code=BBBB-BBBB 2>&1)
RC=$?
[ $RC -eq 1 ] && [[ "$OUT" == *loopback* ]] && ok "approve.mjs refuses a non-loopback URL" || fail "approve.mjs refuses a non-loopback URL" "rc=$RC $OUT"

for i in "${!PIDS[@]}"; do
	pid=${PIDS[$i]}
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	check "server $((i + 1)) exits 0 on SIGTERM" 0 "$?"
done
PIDS=()
for name in A B; do
	if [ -e "$TMP/$name.err" ]; then
		check "$name: nothing on stderr (quiet by default)" "" "$(cat "$TMP/$name.err")"
	fi
done

echo "# $(($(date +%s) - STARTED)) s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
