#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Real-systemd tier: boots systemd 252 in a systemd-nspawn container made by
# debootstrap, installs the project with `meson install --destdir` (prefix
# /usr, the project's unit files unchanged; one test drop-in shortens
# WatchdogSec= to 3 s) and checks, with systemctl and journalctl run inside
# through nsenter:
#   socket activation     the first connection starts shmbroker.service
#   READY and STATUS      the service is active (Type=notify) and StatusText
#                         carries the live counts
#   journal               the daemon's entries, and a protocol violation with
#                         MESSAGE_ID, PEER_UID and PEER_PID
#   fd store              region data and attributes survive `systemctl
#                         restart`, `systemctl kill -s KILL` (Restart=on-failure),
#                         a watchdog kill (SIGSTOP, WatchdogSec=3s) and
#                         `systemctl daemon-reexec`; and are lost on stop + start
#                         (systemd 252 drops the fd store then; documented)
# The debootstrap root is cached in /var/cache/shmbroker-nspawn (about 250
# MB; built once, ~35 s); each run boots an overlay of it, so the cache stays
# clean. Prints SKIP and exits 77 when nspawn cannot run here.
#
# Environment (tests/systemd/meson.build): SOURCE_ROOT, BUILD_ROOT.
set -uo pipefail

START=$(date +%s.%N)
skip() { echo "SKIP: $*"; exit 77; }
die() { echo "FAIL: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

: "${SOURCE_ROOT:?SOURCE_ROOT must name the source tree}"
: "${BUILD_ROOT:?BUILD_ROOT must name the meson build dir}"
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, nspawn)"
for t in debootstrap systemd-nspawn nsenter meson ninja; do
        have "$t" || skip "$t is not installed (run.sh installs debootstrap and systemd-container)"
done
grep -qw overlay /proc/filesystems || skip "the kernel has no overlayfs"

CACHE=${SHMB_NSPAWN_CACHE:-/var/cache/shmbroker-nspawn}
BASE=$CACHE/bookworm
PACKAGES=systemd,systemd-sysv,dbus,libsystemd0,libevent-core-2.1-7,libprotobuf-c1,libinih1
MIRROR=${SHMB_NSPAWN_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

mkdir -p "$CACHE" || skip "cannot create $CACHE"
exec 9>"$CACHE/lock"
flock 9   # one run at a time builds or uses the cache

if [ ! -x "$BASE/bin/systemctl" ] || [ "$(cat "$CACHE/packages" 2>/dev/null)" != "$PACKAGES" ]; then
        echo "# debootstrap bookworm into $BASE (once; cached)"
        rm -rf "$BASE" "$BASE.tmp"
        if ! debootstrap --variant=minbase --include="$PACKAGES" bookworm "$BASE.tmp" "$MIRROR" \
                >"$CACHE/debootstrap.log" 2>&1; then
                tail -5 "$CACHE/debootstrap.log"
                rm -rf "$BASE.tmp"
                skip "debootstrap from $MIRROR failed (no network?); see $CACHE/debootstrap.log"
        fi
        mv "$BASE.tmp" "$BASE"
        echo "$PACKAGES" >"$CACHE/packages"
fi

TMP=$(mktemp -d /var/tmp/shmb-nspawn.XXXXXX) || exit 1
ROOT=$TMP/root
NSPAWN_PID=
CG_NAMES=()
cleanup() {
        if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
                kill -KILL "$NSPAWN_PID" 2>/dev/null
                wait "$NSPAWN_PID" 2>/dev/null
        fi
        mountpoint -q "$ROOT" && umount -l "$ROOT"
        for cg in "${CG_NAMES[@]}"; do
                # Anything left in the container's cgroups is ours: kill by pid, then remove
                # them deepest first, retrying while the last processes exit.
                for _ in $(seq 50); do
                        find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null |
                                while read -r p; do kill -KILL "$p" 2>/dev/null; done
                        find "$cg" -depth -type d 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null; done
                        [ -d "$cg" ] || break
                        sleep 0.1
                done
        done
        rm -rf "$TMP"
}
trap cleanup EXIT

# ---- install the project with prefix /usr, as a distribution would ------
USRBUILD=$BUILD_ROOT/nspawn-prefix-usr
if [ ! -f "$USRBUILD/build.ninja" ]; then
        meson setup "$USRBUILD" "$SOURCE_ROOT" --prefix=/usr -Dnspawn_tests=false >"$TMP/setup.log" 2>&1 ||
                { cat "$TMP/setup.log"; die "meson setup --prefix=/usr failed"; }
fi
ninja -C "$USRBUILD" >"$TMP/build.log" 2>&1 || { tail -20 "$TMP/build.log"; die "build failed"; }

mkdir -p "$TMP/upper" "$TMP/work" "$ROOT"
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$TMP/upper,workdir=$TMP/work" "$ROOT" ||
        skip "cannot mount an overlay of $BASE"
meson install -C "$USRBUILD" --destdir "$ROOT" --no-rebuild --quiet >"$TMP/install.log" 2>&1 ||
        { cat "$TMP/install.log"; die "meson install failed"; }
install -m 0755 "$USRBUILD/tests/systemd/fdstore-client" "$ROOT/usr/lib/shmbroker-fdstore-client"
ldconfig -r "$ROOT"
# A library the binaries need but PACKAGES lacks would only show as a daemon that never starts.
missing=$(chroot "$ROOT" ldd /usr/sbin/shmbrokerd /usr/bin/shmbrokerctl 2>&1 | grep "not found" | sort -u)
[ -z "$missing" ] || die "the container root lacks libraries the binaries need (add their packages to PACKAGES): $missing"
systemd-sysusers --root="$ROOT" >/dev/null 2>&1 || die "systemd-sysusers --root failed"
systemctl --root="$ROOT" enable shmbroker.socket >/dev/null 2>&1 || die "cannot enable shmbroker.socket"
# The only change to the installed units: a short watchdog, so the watchdog kill is quick to test.
mkdir -p "$ROOT/etc/systemd/system/shmbroker.service.d"
printf '[Service]\nWatchdogSec=3s\n' >"$ROOT/etc/systemd/system/shmbroker.service.d/50-test-watchdog.conf"
# Boot quietly and quickly: no getty on the console, nothing that needs a network.
ln -sf /dev/null "$ROOT/etc/systemd/system/console-getty.service"
ln -sf /dev/null "$ROOT/etc/systemd/system/systemd-networkd-wait-online.service"
echo shmb-nspawn >"$ROOT/etc/hostname"
: >"$ROOT/etc/machine-id"

# ---- boot, in cgroups of its own (the host's are hybrid) -----------------
for h in systemd unified; do
        d=/sys/fs/cgroup/$h/shmb-nspawn.$$
        if [ -d "/sys/fs/cgroup/$h" ] && mkdir -p "$d" 2>/dev/null; then
                CG_NAMES+=("$d")
        fi
done
(
        for cg in "${CG_NAMES[@]}"; do echo "$BASHPID" >"$cg/cgroup.procs"; done
        exec systemd-nspawn --boot --register=no --keep-unit --capability=CAP_IPC_LOCK \
                --console=pipe -M shmb-nspawn -D "$ROOT" </dev/null
) >"$TMP/boot.log" 2>&1 &
NSPAWN_PID=$!

LEADER=
for _ in $(seq 100); do
        LEADER=$(ps -o pid= --ppid "$NSPAWN_PID" 2>/dev/null | head -1 | tr -d ' ')
        [ -n "$LEADER" ] && [ "$(readlink "/proc/$LEADER/exe" 2>/dev/null)" = "$ROOT/usr/lib/systemd/systemd" ] && break
        if ! kill -0 "$NSPAWN_PID" 2>/dev/null; then
                cat "$TMP/boot.log"
                skip "systemd-nspawn could not boot the container here"
        fi
        sleep 0.1
done
[ -n "$LEADER" ] || { cat "$TMP/boot.log"; skip "cannot find the container's PID 1"; }

in_ct() { nsenter -t "$LEADER" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
for _ in $(seq 150); do
        state=$(in_ct systemctl is-system-running 2>/dev/null)
        case $state in running|degraded) break ;; esac
        sleep 0.2
done
case $state in running|degraded) ;; *) cat "$TMP/boot.log"; die "the container did not finish booting: '$state'" ;; esac
echo "# container booted ($state), $(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s since start"

n_pass=0 n_fail=0
pass() { echo "PASS: $*"; n_pass=$((n_pass + 1)); }
fail() { echo "FAIL: $*"; n_fail=$((n_fail + 1)); }
quiet() { "$@" >/dev/null 2>&1; }
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

SOCK=/run/shmbroker/control.sock
CLIENT=/usr/lib/shmbroker-fdstore-client
main_pid() { in_ct systemctl show -p MainPID --value shmbroker.service; }
active() { [ "$(in_ct systemctl is-active shmbroker.service)" = active ]; }
# Waits until the service is active with a main pid other than $1.
wait_new_pid() {
        local old=$1 pid
        for _ in $(seq 200); do
                pid=$(main_pid)
                if [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != "$old" ] && active; then
                        echo "$pid"
                        return 0
                fi
                sleep 0.1
        done
        return 1
}
N=40
EXPECT_NAMES=$(seq 0 2 $((N - 1)) | sed 's|^|c/|' | tr '\n' ' ')
check_regions() {
        local what=$1 out
        out=$(in_ct "$CLIENT" "$SOCK" dump 2>&1)
        if [ "$out" != "$DUMP" ]; then
                fail "$what: attributes differ"
                diff <(echo "$DUMP") <(echo "$out") | head -5
                return
        fi
        # shellcheck disable=SC2086
        out=$(in_ct "$CLIENT" "$SOCK" verify $EXPECT_NAMES 2>&1)
        case $out in "ok $((N / 2)) regions verified") pass "$what: every region and byte came back" ;;
        *) fail "$what: $out" ;; esac
}

# ---- socket activation, READY, STATUS ------------------------------------
expect "shmbroker.socket is listening" [ "$(in_ct systemctl is-active shmbroker.socket)" = active ]
expect "shmbroker.service waits for the first connection" \
        [ "$(in_ct systemctl is-active shmbroker.service)" != active ]
out=$(in_ct "$CLIENT" "$SOCK" churn "$N" 2>&1)
expect "the first connection starts the daemon, which serves it ($out)" [ "$out" = "ok churned" ]
expect "Type=notify: active after READY=1" active
status=$(in_ct systemctl show -p StatusText --value shmbroker.service)
for _ in $(seq 30); do case $status in *"regions: $((N / 2))"*) break ;; esac; sleep 0.2
        status=$(in_ct systemctl show -p StatusText --value shmbroker.service); done
expect "STATUS= carries live counts ('$status')" grep -q "regions: $((N / 2))" <<<"$status"
DUMP=$(in_ct "$CLIENT" "$SOCK" dump 2>&1)
expect "$((N / 2)) regions, all restart-safe" [ "$(grep -c 'restart_safe=1' <<<"$DUMP")" -eq $((N / 2)) ]

# ---- journal ----------------------------------------------------------------
in_ct "$CLIENT" "$SOCK" violate >/dev/null 2>&1
sleep 0.3
expect "journalctl -u shmbroker has the daemon's entries" \
        quiet in_ct journalctl -u shmbroker.service --no-pager -q -g "listening on"
j=$(in_ct journalctl --no-pager -q -o verbose MESSAGE_ID=4fdc2f81b97840d4837b82db34b572c5 2>&1)
expect "a protocol violation is logged with MESSAGE_ID, PEER_UID and PEER_PID" \
        bash -c '[[ $1 == *PEER_UID=0* && $1 == *PEER_PID=* && $1 == *SYSLOG_IDENTIFIER=shmbrokerd* ]]' _ "$j"

# ---- survival ---------------------------------------------------------------
pid=$(main_pid)
in_ct systemctl restart shmbroker.service
new=$(wait_new_pid "$pid") && pass "systemctl restart: new main pid $new" || fail "systemctl restart"
check_regions "systemctl restart"

pid=$new
in_ct systemctl kill -s KILL shmbroker.service
new=$(wait_new_pid "$pid") && pass "SIGKILL: restarted by Restart=on-failure (pid $new)" || fail "SIGKILL restart"
check_regions "SIGKILL"

pid=$new
# MainPID is a pid of the container's namespace: stop it from inside.
in_ct sh -c "kill -STOP $pid"
t0=$(date +%s)
new=$(wait_new_pid "$pid") && pass "watchdog: the stopped daemon was killed and restarted after $(($(date +%s) - t0)) s (pid $new)" ||
        fail "watchdog kill"
expect "the journal names the watchdog" quiet in_ct journalctl -u shmbroker.service --no-pager -q -g "[Ww]atchdog timeout"
check_regions "watchdog kill"

in_ct systemctl daemon-reexec
sleep 1
for _ in $(seq 50); do in_ct systemctl is-system-running >/dev/null 2>&1 && break; sleep 0.2; done
expect "daemon-reexec keeps the service running" active
in_ct systemctl restart shmbroker.service
new=$(wait_new_pid "$new") || fail "restart after daemon-reexec"
check_regions "daemon-reexec, then restart"

# Documented limitation of systemd 252: stop + start empties the fd store.
in_ct systemctl stop shmbroker.service 2>/dev/null
out=$(in_ct "$CLIENT" "$SOCK" dump 2>&1)
expect "stop + start: the fd store was dropped, as documented for systemd 252 (regions: $(grep -c . <<<"$out"))" \
        [ -z "$out" ]

in_ct systemctl poweroff >/dev/null 2>&1
for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
END=$(date +%s.%N)
echo "# runtime $(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.1f", b - a }') s: $n_pass passed, $n_fail failed"
[ "$n_fail" -eq 0 ]
