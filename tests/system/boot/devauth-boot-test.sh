#!/bin/bash
# The boot test inside the container (see tests/system/test_boot.py).
#
# Runs as devauth-boot-test.service once multi-user.target is reached, on a
# system where devauthd is installed but neither enabled nor started. Every
# check appends "ok NAME" or "FAIL NAME: why" to /report/results; the first
# failure ends the script (exit 1). The host approves the sign-in when the
# user code appears in /report/user-code and reads the results afterwards.
# Every wait is bounded; tokens are never written anywhere, only hashes.

set -u
export LC_ALL=C.UTF-8 SYSTEMD_PAGER=cat SYSTEMD_COLORS=0

R=/report
ACCOUNT=device
KEYRING=$(sed -n 's/^KeyringName=//p' /etc/devauthd/devauthd.conf)
STEP=start

diagnostics() {
	{
		echo "---- systemctl status"
		systemctl status --no-pager --full devauthd.service devauth-wait-online.service \
			devauth-online.target devauth-consumer.service polkit.service
		echo "---- failed units"
		systemctl list-units --failed --no-pager
	} >"$R/status.txt" 2>&1
	journalctl -b --no-pager -o short-monotonic >"$R/journal.txt" 2>&1
}

ok() {
	echo "ok $1" >>"$R/results"
}

fail() {
	echo "FAIL $STEP: $*" >>"$R/results"
	diagnostics
	exit 1
}

step() {
	STEP=$1
}

# wait_for SECONDS COMMAND…: runs COMMAND every 0.1 s until it succeeds
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

prop() { # prop UNIT PROPERTY
	systemctl show -p "$2" --value "$1"
}

state_is() { # state_is STATE: the account's state as devauthctl reports it
	devauthctl status --json "$ACCOUNT" 2>/dev/null | grep -q "\"state\" *: *\"$1\""
}

unit_state_is() { # unit_state_is UNIT ACTIVESTATE
	[ "$(prop "$1" ActiveState)" = "$2" ]
}

token_hash() { # token_hash [setpriv args…]: sha256 of the token devauthctl prints
	local out
	out=$("$@" devauthctl token "$ACCOUNT") || return 1
	[ -n "$out" ] || return 1
	printf '%s' "$out" | sha256sum | cut -d' ' -f1
}

as_user() { # as_user USER COMMAND…
	setpriv --reuid="$1" --regid="$1" --init-groups --reset-env -- "${@:2}"
}

: >"$R/results"

step credential
# The storage key as in production: an encrypted credential (sealed to this
# installation's host key; there is no TPM in a container) that
# LoadCredentialEncrypted=devauthd.storage-key finds in the credstore.
install -d -m 0700 /etc/credstore.encrypted
head -c 32 /dev/urandom | systemd-creds encrypt --name=devauthd.storage-key - \
	/etc/credstore.encrypted/devauthd.storage-key || fail "systemd-creds encrypt failed"
ok credential

step sysusers
entry=$(getent passwd devauthd) || fail "no user devauthd (sysusers.d)"
uid=$(echo "$entry" | cut -d: -f3)
echo "$uid" >"$R/devauthd-uid"
if [ "$uid" -le 0 ] || [ "$uid" -ge 1000 ]; then
	fail "devauthd is not a system user: $entry"
fi
getent group devauthd >/dev/null || fail "no group devauthd"
# sysusers may run before journald: its lines are then not tagged with the
# unit, so the whole boot's journal is searched
journalctl -b --no-pager | grep -q "systemd-sysusers.*Creating user 'devauthd'" ||
	fail "systemd-sysusers did not create devauthd at boot"
for u in tester kiosk; do
	getent passwd "$u" >/dev/null || fail "no user $u (the test's own sysusers.d file)"
done
[ "$(stat -c '%a %U %G' /var/lib/devauthd)" = "700 devauthd devauthd" ] ||
	fail "/var/lib/devauthd: $(stat -c '%a %U %G' /var/lib/devauthd) (tmpfiles.d)"
ok sysusers

step not-started
[ "$(systemctl is-enabled devauthd.service)" = disabled ] ||
	fail "devauthd.service is $(systemctl is-enabled devauthd.service), expected disabled"
unit_state_is devauthd.service inactive || fail "devauthd.service is $(prop devauthd.service ActiveState) before anyone called it"
ok not-started

step bus-activation
list=$(devauthctl list 2>&1) || fail "devauthctl list: $list"
echo "$list" | grep -q "^$ACCOUNT" || fail "devauthctl list: $list"
unit_state_is devauthd.service active || fail "devauthd.service is $(prop devauthd.service ActiveState) after a call"
journalctl -b --no-pager -u dbus.service |
	grep -q "Activating via systemd: service name='org.devauth.DeviceAuth1' unit='dbus-org.devauth.DeviceAuth1.service'" ||
	fail "dbus-daemon did not activate devauthd through systemd"
ok bus-activation

step user
pid=$(prop devauthd.service MainPID)
[ "$pid" -gt 0 ] || fail "MainPID is $pid"
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
[ "$uids" = "$uid $uid $uid $uid" ] || fail "devauthd (PID $pid) runs with uids $uids, expected $uid"
gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
gid=$(getent group devauthd | cut -d: -f3)
[ "$gids" = "$gid $gid $gid $gid" ] || fail "devauthd runs with gids $gids, expected $gid"
grep -q '^CapEff:[[:space:]]*0*$' "/proc/$pid/status" || fail "devauthd has capabilities: $(grep ^Cap "/proc/$pid/status")"
grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status" || fail "NoNewPrivs is not set"
grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status" || fail "no seccomp filter"
ok user

step status-text
text=$(prop devauthd.service StatusText)
[ "$text" = "Signed in: 0 of 1 account" ] || fail "StatusText is '$text'"
ok status-text

step auto-login
wait_for 20 state_is awaiting-user || fail "AutoLogin did not start a sign-in: $(devauthctl status "$ACCOUNT" 2>&1)"
ok auto-login

step wait-online-waits
systemctl start --no-block devauth-consumer.service || fail "cannot queue devauth-consumer.service"
wait_for 20 unit_state_is devauth-wait-online.service activating ||
	fail "devauth-wait-online.service is $(prop devauth-wait-online.service ActiveState)"
sleep 1
unit_state_is devauth-wait-online.service activating ||
	fail "devauth-wait-online.service did not wait: $(prop devauth-wait-online.service ActiveState)"
unit_state_is devauth-online.target inactive || fail "devauth-online.target is $(prop devauth-online.target ActiveState) before the sign-in"
unit_state_is devauth-consumer.service inactive || fail "the consumer ran before the sign-in"
[ ! -e /run/devauth-consumer.status ] || fail "the consumer ran before the sign-in"
ok wait-online-waits

step user-code
# Login joins the sign-in that AutoLogin started (the host checks that the
# IdP saw one device authorization only) and returns its prompt.
prompt=$(busctl --json=short call org.devauth.DeviceAuth1 /org/devauth/DeviceAuth1 \
	org.devauth.DeviceAuth1.Manager Login 'sa{sv}' "$ACCOUNT" 0 2>&1) || fail "Login: $prompt"
code=$(echo "$prompt" | grep -o '"user-code":{"type":"s","data":"[^"]*"' | sed 's/.*"data":"//; s/"$//')
[ -n "$code" ] || fail "no user-code in $prompt"
echo "$code" >"$R/user-code.tmp" && mv "$R/user-code.tmp" "$R/user-code"
ok user-code

step online
wait_for 60 unit_state_is devauth-consumer.service active ||
	fail "the consumer did not run: $(prop devauth-consumer.service ActiveState)/$(prop devauth-consumer.service Result)"
[ "$(prop devauth-wait-online.service Result)" = success ] || fail "devauth-wait-online.service: $(prop devauth-wait-online.service Result)"
unit_state_is devauth-online.target active || fail "devauth-online.target is $(prop devauth-online.target ActiveState)"
grep -q '"state" *: *"signed-in"' /run/devauth-consumer.status ||
	fail "the consumer saw: $(cat /run/devauth-consumer.status)"
consumer_start=$(prop devauth-consumer.service ExecMainStartTimestampMonotonic)
online_at=$(prop devauth-online.target ActiveEnterTimestampMonotonic)
[ "$consumer_start" -ge "$online_at" ] || fail "the consumer started at $consumer_start, before devauth-online.target ($online_at)"
ok online

step signed-in
state_is signed-in || fail "$(devauthctl status "$ACCOUNT" 2>&1)"
text=$(prop devauthd.service StatusText)
[ "$text" = "Signed in: 1 of 1 account" ] || fail "StatusText is '$text'"
token1=$(token_hash) || fail "root gets no token"
ok signed-in

step storage
pid=$(prop devauthd.service MainPID)
journalctl -b --no-pager -u devauthd.service | grep -q "no storage key" &&
	fail "devauthd found no storage key (the credential)"
[ "$(stat -c %a /run/credentials/devauthd.service/devauthd.storage-key 2>&1)" = 400 ] ||
	fail "the credential is not in /run/credentials/devauthd.service"
files=$(find /var/lib/devauthd -type f)
[ -n "$files" ] || fail "nothing stored in /var/lib/devauthd"
for f in $files; do
	[ "$(stat -c '%a %U' "$f")" = "600 devauthd" ] || fail "$f: $(stat -c '%a %U' "$f")"
done
plain=$(devauthctl token "$ACCOUNT")
if grep -rqF -- "$plain" /var/lib/devauthd; then
	fail "the access token is stored in plain text"
fi
unset plain
ok storage

step keyring
ring=$(as_user devauthd keyctl search @u keyring "$KEYRING" 2>&1) ||
	fail "no keyring $KEYRING in the user keyring of devauthd: $ring"
# the keys are for their possessor: look as devauthd does, from a session
# keyring that links the user keyring
for kind in access refresh; do
	# shellcheck disable=SC2016 # expanded by the inner shell
	key=$(as_user devauthd keyctl session - /bin/sh -c \
		'keyctl link @u @s >/dev/null && r=$(keyctl search @s keyring "$1") && keyctl search "$r" user "$2"' \
		sh "$KEYRING" "devauthd:$ACCOUNT:$kind" 2>&1) ||
		fail "no $kind key in the keyring $KEYRING: $key"
done
ok keyring

step restart
pid1=$(prop devauthd.service MainPID)
systemctl restart devauthd.service || fail "systemctl restart devauthd failed"
unit_state_is devauthd.service active || fail "devauthd.service is $(prop devauthd.service ActiveState) after restart"
pid2=$(prop devauthd.service MainPID)
if [ "$pid2" = "$pid1" ] || [ "$pid2" -le 0 ]; then
	fail "MainPID $pid1 -> $pid2"
fi
state_is signed-in || fail "not signed in after restart: $(devauthctl status "$ACCOUNT" 2>&1)"
token2=$(token_hash) || fail "no token after restart"
[ "$token2" = "$token1" ] || fail "another access token after restart"
text=$(prop devauthd.service StatusText)
[ "$text" = "Signed in: 1 of 1 account" ] || fail "StatusText after restart is '$text'"
echo restarted >"$R/restarted"
ok restart

step polkit
out=$(as_user tester devauthctl status "$ACCOUNT" 2>&1) || fail "tester may not read the status: $out"
err=$(as_user tester devauthctl token "$ACCOUNT" 2>&1 >/dev/null)
rc=$?
[ "$rc" -ne 0 ] || fail "tester got a token"
case $err in
*"polkit is not available"*) fail "devauthd has no polkit: $err" ;;
*"not authorized to"*) ;;
*) fail "tester: exit $rc, $err" ;;
esac
unit_state_is polkit.service active || fail "polkitd is not running"
token3=$(token_hash as_user kiosk) || fail "kiosk (granted by a polkit rule) gets no token"
[ "$token3" = "$token1" ] || fail "kiosk got another token"
ok polkit

step varlink
# devauthctl token asks devauthd's Varlink socket: with no bus at all, the
# token still comes, and polkit still decides
sock=/run/devauthd/org.devauth.DeviceAuth1
[ "$(stat -c '%a %U' "$sock" 2>&1)" = "666 devauthd" ] || fail "$sock: $(stat -c '%a %U' "$sock" 2>&1)"
[ "$(stat -c %a /run/devauthd 2>&1)" = 755 ] || fail "/run/devauthd: $(stat -c %a /run/devauthd 2>&1)"
token4=$(token_hash as_user kiosk env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent) ||
	fail "kiosk gets no token through the Varlink socket"
[ "$token4" = "$token1" ] || fail "kiosk got another token through the Varlink socket"
err=$(as_user tester env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent devauthctl token "$ACCOUNT" 2>&1 >/dev/null) &&
	fail "tester got a token through the Varlink socket"
case $err in
*"not authorized to"*) ;;
*) fail "tester through the Varlink socket: $err" ;;
esac
ok varlink

step cleanup
devauthctl logout "$ACCOUNT" || fail "devauthctl logout"
systemctl stop devauthd.service || fail "systemctl stop devauthd"
[ ! -e /run/devauthd/org.devauth.DeviceAuth1 ] || fail "the Varlink socket outlives devauthd"
ring=$(as_user devauthd keyctl search @u keyring "$KEYRING" 2>/dev/null) &&
	as_user devauthd keyctl unlink "$ring" @u >/dev/null
ok cleanup

diagnostics
echo PASSED >"$R/status"
exit 0
