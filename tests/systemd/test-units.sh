#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Fast systemd tier: checks the unit files and the daemon's side of the
# service-manager protocol without a running systemd (PID 1 is not systemd on
# the CI machines). Each check prints PASS, FAIL or SKIP with a reason:
#   verify      systemd-analyze verify of shmbroker.socket and the configured
#               shmbroker.service (ExecStart pointed at the built daemon)
#   security    systemd-analyze security --offline: exposure at most 2.0
#   sysusers    shmbroker.sysusers creates the user in a scratch root
#   tmpfiles    shmbroker.tmpfiles creates /run/shmbroker in a scratch root
#   activation  the built daemon under systemd-socket-activate: takes the
#               passed SOCK_SEQPACKET socket, sends STATUS=, READY=1,
#               WATCHDOG=1 and STOPPING=1 to NOTIFY_SOCKET, serves
#               shmbrokerctl, exits 0 on SIGTERM and leaves the socket file
#               (owned by the manager) in place
#
# Environment (set by tests/systemd/meson.build): SHMBROKERD, SHMBROKERCTL,
# SERVICE (configured shmbroker.service), SOCKET (shmbroker.socket); also
# SYSUSERS and TMPFILES. Exit status: 0 all run checks passed, 1 a check
# failed, 77 (meson: SKIP) every check was skipped.
set -uo pipefail

: "${SHMBROKERD:?SHMBROKERD must name the built shmbrokerd}"
: "${SHMBROKERCTL:?SHMBROKERCTL must name the built shmbrokerctl}"
: "${SERVICE:?SERVICE must name the configured shmbroker.service}"
: "${SOCKET:?SOCKET must name shmbroker.socket}"

# Absolute paths: some checks run from another directory.
abs() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
SHMBROKERD=$(abs "$SHMBROKERD") SHMBROKERCTL=$(abs "$SHMBROKERCTL")
SERVICE=$(abs "$SERVICE") SOCKET=$(abs "$SOCKET")
[ -n "${SYSUSERS:-}" ] && SYSUSERS=$(abs "$SYSUSERS")
[ -n "${TMPFILES:-}" ] && TMPFILES=$(abs "$TMPFILES")
export SHMBROKERD SHMBROKERCTL
for f in "$SHMBROKERD" "$SHMBROKERCTL" "$SERVICE" "$SOCKET" ${SYSUSERS:+"$SYSUSERS"} ${TMPFILES:+"$TMPFILES"}; do
        [ -e "$f" ] || { echo "FAIL: $f does not exist"; exit 1; }
done

# Never let a service manager's descriptors leak into what we start.
unset LISTEN_FDS LISTEN_PID LISTEN_FDNAMES NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shmb-units.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

n_pass=0 n_fail=0 n_skip=0
pass() { echo "PASS: $*"; n_pass=$((n_pass + 1)); }
fail() { echo "FAIL: $*"; n_fail=$((n_fail + 1)); }
skip() { echo "SKIP: $*"; n_skip=$((n_skip + 1)); }
have() { command -v "$1" >/dev/null 2>&1; }

# The units as installed, except ExecStart: verify needs the binary to exist,
# and the configured path (prefix/sbindir) is not installed during tests.
UNITS=$TMP/units
mkdir -p "$UNITS"
cp "$SOCKET" "$UNITS/shmbroker.socket"
sed "s|^ExecStart=[^ ]*shmbrokerd|ExecStart=$SHMBROKERD|" "$SERVICE" >"$UNITS/shmbroker.service"

check_configured() {
        local bad
        bad=$(grep -n '@[A-Za-z_]*@' "$SERVICE")
        if [ -n "$bad" ]; then
                fail "configured: unexpanded meson variables in $SERVICE: $bad"
        elif ! grep -qx "ExecStart=$SHMBROKERD" "$UNITS/shmbroker.service"; then
                fail "configured: ExecStart not found in $SERVICE (expected ExecStart=.../shmbrokerd)"
        else
                pass "configured: $(grep '^ExecStart=' "$SERVICE")"
        fi
}

check_verify() {
        local out rc
        if ! have systemd-analyze; then
                skip "verify: systemd-analyze not installed (package systemd)"
                return
        fi
        # User=shmbroker need not exist: verify does not resolve users (checked
        # on systemd 252), so no warning is expected or filtered here.
        out=$(cd "$UNITS" && systemd-analyze verify --man=no ./shmbroker.socket ./shmbroker.service 2>&1)
        rc=$?
        if [ $rc -ne 0 ] || [ -n "$out" ]; then
                fail "verify: systemd-analyze verify exited $rc with output:"
                printf '%s\n' "$out" | sed 's/^/    /'
        else
                pass "verify: shmbroker.socket and shmbroker.service verify cleanly"
        fi
}

check_security() {
        local out rc score
        if ! have systemd-analyze; then
                skip "security: systemd-analyze not installed (package systemd)"
                return
        fi
        if ! systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
                skip "security: this systemd-analyze has no --offline (needs systemd 250+)"
                return
        fi
        # --threshold=20: fail when the exposure is above 2.0 (scores are x10).
        out=$(cd "$UNITS" && systemd-analyze security --offline=true --threshold=20 ./shmbroker.service 2>&1)
        rc=$?
        score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for shmbroker.service: \([0-9.]*\).*/\1/p')
        if [ $rc -ne 0 ] || [ -z "$score" ]; then
                fail "security: exposure ${score:-unknown} (must be at most 2.0; exit $rc); issues:"
                printf '%s\n' "$out" | grep '✗' | sed 's/^/    /'
        elif ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
                fail "security: exposure $score is above 2.0"
        else
                pass "security: exposure $score (at most 2.0 required); open items:"
                printf '%s\n' "$out" | grep '✗' | sed 's/  */ /g; s/^/    /'
        fi
}

check_sysusers() {
        local root=$TMP/sysusers-root out
        if ! have systemd-sysusers; then
                skip "sysusers: systemd-sysusers not installed (package systemd)"
                return
        fi
        if [ -z "${SYSUSERS:-}" ]; then
                skip "sysusers: SYSUSERS not set"
                return
        fi
        mkdir -p "$root/etc"
        if ! out=$(systemd-sysusers --root="$root" "$SYSUSERS" 2>&1); then
                fail "sysusers: systemd-sysusers failed: $out"
        elif ! out=$(grep '^shmbroker:' "$root/etc/passwd"); then
                fail "sysusers: no shmbroker user in the scratch root's /etc/passwd"
        elif ! grep -q '^shmbroker:' "$root/etc/group"; then
                fail "sysusers: no shmbroker group in the scratch root's /etc/group"
        else
                case $out in
                shmbroker:x:[0-9]*:[0-9]*:*:*:*nologin) pass "sysusers: $out" ;;
                *) fail "sysusers: unexpected passwd entry (want a system user without a shell): $out" ;;
                esac
        fi
}

check_tmpfiles() {
        local root=$TMP/tmpfiles-root out st
        if ! have systemd-tmpfiles; then
                skip "tmpfiles: systemd-tmpfiles not installed (package systemd)"
                return
        fi
        if [ -z "${TMPFILES:-}" ]; then
                skip "tmpfiles: TMPFILES not set"
                return
        fi
        if [ "$(id -u)" -ne 0 ]; then
                skip "tmpfiles: creating the root-owned /run/shmbroker in a scratch root needs root"
                return
        fi
        mkdir -p "$root/run"
        if ! out=$(systemd-tmpfiles --root="$root" --create "$TMPFILES" 2>&1); then
                fail "tmpfiles: systemd-tmpfiles --create failed: $out"
                return
        fi
        st=$(stat -c '%F %a %U:%G' "$root/run/shmbroker" 2>&1)
        if [ "$st" = "directory 755 root:root" ]; then
                pass "tmpfiles: /run/shmbroker is a $st"
        else
                fail "tmpfiles: /run/shmbroker: got '$st', want 'directory 755 root:root'"
        fi
}

check_activation() {
        local out rc
        if ! have systemd-socket-activate; then
                skip "activation: systemd-socket-activate not installed (package systemd)"
                return
        fi
        if ! have python3; then
                skip "activation: python3 not installed"
                return
        fi
        cat >"$TMP/activation.py" <<'PY'
import array, os, signal, socket, subprocess, sys, time

# Stands in for the service manager's notify socket: collects every message
# (and closes any fds the daemon stores, should it use FDSTORE=1 already).
tmp = sys.argv[1]
os.makedirs(tmp)
sock_path = os.path.join(tmp, "sock")
other_path = os.path.join(tmp, "bound-by-daemon.sock")
notify_path = os.path.join(tmp, "notify")
daemon = os.environ["SHMBROKERD"]
ctl = os.environ["SHMBROKERCTL"]
WATCHDOG_USEC = 300000

notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
notify.bind(notify_path)
notify.setblocking(False)
messages = []


def drain(timeout=0.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            data, anc, _, _ = notify.recvmsg(65536, socket.CMSG_SPACE(253 * 4))
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.02)
            continue
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                for fd in fds:
                    os.close(fd)
        messages.append(data.decode(errors="replace"))


def fields(key):
    out = []
    for m in messages:
        for line in m.split("\n"):
            if line.startswith(key + "="):
                out.append(line[len(key) + 1:])
    return out


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        drain(0.05)
        if pred():
            return True
    return False


log = open(os.path.join(tmp, "daemon.log"), "w+")
errors = []


def fail(msg):
    errors.append(msg)


# SHMBROKER_SOCKET points elsewhere: a daemon that ignored LISTEN_FDS would
# bind that path instead of serving the passed socket, and we would see it.
proc = subprocess.Popen(
    ["systemd-socket-activate", "--seqpacket", "-l", sock_path, "--fdname=control",
     "-E", "NOTIFY_SOCKET=" + notify_path,
     "-E", "WATCHDOG_USEC=%d" % WATCHDOG_USEC,
     "-E", "SHMBROKER_SOCKET=" + other_path,
     daemon],
    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def ctl_run(*args):
    try:
        return subprocess.run([ctl, "--socket", sock_path] + list(args), capture_output=True, text=True,
                              timeout=15)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, -1, "", "no answer within 15 s (is anyone serving the "
                                           "passed socket?)")


try:
    if not wait_for(lambda: os.path.exists(sock_path) or proc.poll() is not None, 10):
        fail("systemd-socket-activate did not create %s within 10 s" % sock_path)
        raise SystemExit
    if proc.poll() is not None:
        fail("systemd-socket-activate exited %d before any connection" % proc.returncode)
        raise SystemExit
    # systemd-socket-activate starts the daemon on the first connection, which
    # waits in the backlog meanwhile, as with a real socket unit.
    r = ctl_run("list")
    if r.returncode != 0:
        fail("'shmbrokerctl list' on the activated socket exited %d: %s" % (r.returncode, r.stderr.strip()))
        raise SystemExit
    if not wait_for(lambda: "1" in fields("READY"), 10):
        fail("no READY=1 within 10 s of the first connection")
        raise SystemExit
    if os.path.exists(other_path):
        fail("the daemon bound $SHMBROKER_SOCKET instead of using the passed socket")
    if not fields("STATUS"):
        fail("no STATUS= message by the time READY=1 arrived")
    first_status = fields("STATUS")[-1] if fields("STATUS") else None
    r = ctl_run("create", "units-test", "4K")
    if r.returncode != 0:
        fail("'shmbrokerctl create units-test 4K' exited %d: %s" % (r.returncode, r.stderr.strip()))
    else:
        r = ctl_run("list")
        if r.returncode != 0 or "units-test" not in r.stdout:
            fail("'shmbrokerctl list' after create (exit %d) does not show units-test:\n%s%s"
                 % (r.returncode, r.stdout, r.stderr))
        # Live counts: STATUS= must change now that a region exists.
        if not wait_for(lambda: fields("STATUS") and fields("STATUS")[-1] != first_status, 6):
            fail("STATUS= did not change within 6 s of creating a region (still %r)" % first_status)
    # WATCHDOG=1 about every WATCHDOG_USEC/2.
    n0 = len(fields("WATCHDOG"))
    if not wait_for(lambda: len(fields("WATCHDOG")) >= n0 + 2, 4 * WATCHDOG_USEC / 1e6 + 1):
        fail("fewer than 2 WATCHDOG=1 in %.1f s with WATCHDOG_USEC=%d"
             % (4 * WATCHDOG_USEC / 1e6 + 1, WATCHDOG_USEC))
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        fail("the daemon did not exit within 10 s of SIGTERM")
        raise SystemExit
    drain(0.2)
    if rc != 0:
        fail("the daemon exited %d on SIGTERM, want 0" % rc)
    if "1" not in fields("STOPPING"):
        fail("no STOPPING=1 before exit")
    if not os.path.exists(sock_path):
        fail("the daemon removed the socket file it was handed; it belongs to the service manager")
except SystemExit:
    pass
finally:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

counts = {}
for msg in messages:
    for line in msg.split("\n"):
        if line:
            key = line.split("=", 1)[0]
            counts[key] = counts.get(key, 0) + 1
print("notify messages: " + ", ".join("%s x%d" % kv for kv in sorted(counts.items())))
for st in fields("STATUS"):
    print("STATUS=" + st)
if errors:
    for e in errors:
        print("error: " + e)
    log.seek(0)
    print("daemon output:\n" + "".join("  " + l for l in log.readlines()[-30:]))
    sys.exit(1)
PY
        out=$(python3 "$TMP/activation.py" "$TMP/activation" 2>&1)
        rc=$?
        if [ $rc -eq 0 ]; then
                pass "activation: passed socket served; READY, STATUS, WATCHDOG, STOPPING seen"
                printf '%s\n' "$out" | sed 's/^/    /'
        else
                fail "activation:"
                printf '%s\n' "$out" | sed 's/^/    /'
        fi
}

check_configured
check_verify
check_security
check_sysusers
check_tmpfiles
check_activation

echo "# $n_pass passed, $n_fail failed, $n_skip skipped"
[ $n_fail -gt 0 ] && exit 1
[ $n_pass -eq 0 ] && exit 77
exit 0
