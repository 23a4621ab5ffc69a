#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Shared by the real-systemd tier scripts (test-nspawn*.sh): the cached
# debootstrap root, an overlay of it per run, booting systemd-nspawn in
# cgroups of its own, running commands inside (in_ct) and TAP-like counters.
# Source it after setting NSPAWN_NAME (the container and cgroup name); then
# call nspawn_overlay, prepare $ROOT, nspawn_boot, run checks, nspawn_finish.
# Extra packages for the base root: NSPAWN_EXTRA_PACKAGES (comma-separated;
# a different set is a different cached root).

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
BASE=$CACHE/bookworm${NSPAWN_EXTRA_PACKAGES:+-$(echo "$NSPAWN_EXTRA_PACKAGES" | md5sum | cut -c1-8)}
PACKAGES=systemd,systemd-sysv,dbus,libsystemd0,libevent-core-2.1-7,libprotobuf-c1,libinih1${NSPAWN_EXTRA_PACKAGES:+,$NSPAWN_EXTRA_PACKAGES}
MIRROR=${SHMB_NSPAWN_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

mkdir -p "$CACHE" || skip "cannot create $CACHE"
exec 9>"$CACHE/lock"
flock 9   # one run at a time builds or uses the cache

if [ ! -x "$BASE/bin/systemctl" ] || [ "$(cat "$BASE.packages" 2>/dev/null)" != "$PACKAGES" ]; then
        echo "# debootstrap bookworm into $BASE (once; cached)"
        rm -rf "$BASE" "$BASE.tmp"
        if ! debootstrap --variant=minbase --include="$PACKAGES" bookworm "$BASE.tmp" "$MIRROR" \
                >"$CACHE/debootstrap.log" 2>&1; then
                tail -5 "$CACHE/debootstrap.log"
                rm -rf "$BASE.tmp"
                skip "debootstrap from $MIRROR failed (no network?); see $CACHE/debootstrap.log"
        fi
        mv "$BASE.tmp" "$BASE"
        echo "$PACKAGES" >"$BASE.packages"
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


# Mounts $ROOT, a fresh overlay of the cached base.
nspawn_overlay() {
        mkdir -p "$TMP/upper" "$TMP/work" "$ROOT"
        mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$TMP/upper,workdir=$TMP/work" "$ROOT" ||
                skip "cannot mount an overlay of $BASE"
        # Boot quietly and quickly: no getty on the console, nothing that needs a network.
        ln -sf /dev/null "$ROOT/etc/systemd/system/console-getty.service"
        ln -sf /dev/null "$ROOT/etc/systemd/system/systemd-networkd-wait-online.service"
        echo "$NSPAWN_NAME" >"$ROOT/etc/hostname"
        : >"$ROOT/etc/machine-id"
}

# Installs the project into $ROOT with meson (prefix /usr), as a distribution would.
nspawn_install_meson() {
        local usrbuild=$BUILD_ROOT/nspawn-prefix-usr
        if [ ! -f "$usrbuild/build.ninja" ]; then
                meson setup "$usrbuild" "$SOURCE_ROOT" --prefix=/usr -Dnspawn_tests=false >"$TMP/setup.log" 2>&1 ||
                        { cat "$TMP/setup.log"; die "meson setup --prefix=/usr failed"; }
        fi
        ninja -C "$usrbuild" >"$TMP/build.log" 2>&1 || { tail -20 "$TMP/build.log"; die "build failed"; }
        meson install -C "$usrbuild" --destdir "$ROOT" --no-rebuild --quiet >"$TMP/install.log" 2>&1 ||
                { cat "$TMP/install.log"; die "meson install failed"; }
        install -m 0755 "$usrbuild/tests/systemd/fdstore-client" "$ROOT/usr/lib/shmbroker-fdstore-client"
        ldconfig -r "$ROOT"
        # A library the binaries need but PACKAGES lacks would only show as a daemon that never starts.
        local missing
        missing=$(chroot "$ROOT" ldd /usr/sbin/shmbrokerd /usr/bin/shmbrokerctl 2>&1 | grep "not found" | sort -u)
        [ -z "$missing" ] || die "the container root lacks libraries the binaries need (add their packages to PACKAGES): $missing"
        systemd-sysusers --root="$ROOT" >/dev/null 2>&1 || die "systemd-sysusers --root failed"
        systemctl --root="$ROOT" enable shmbroker.socket >/dev/null 2>&1 || die "cannot enable shmbroker.socket"
}

# Boots $ROOT in cgroups of its own (the host's are hybrid); sets LEADER, defines in_ct.
in_ct() { nsenter -t "$LEADER" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
nspawn_boot() {
        for h in systemd unified; do
                d=/sys/fs/cgroup/$h/$NSPAWN_NAME.$$
                if [ -d "/sys/fs/cgroup/$h" ] && mkdir -p "$d" 2>/dev/null; then
                        CG_NAMES+=("$d")
                fi
        done
        (
                for cg in "${CG_NAMES[@]}"; do echo "$BASHPID" >"$cg/cgroup.procs"; done
                exec systemd-nspawn --boot --register=no --keep-unit --capability=CAP_IPC_LOCK \
                        --console=pipe -M "$NSPAWN_NAME" -D "$ROOT" </dev/null
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

        for _ in $(seq 150); do
                state=$(in_ct systemctl is-system-running 2>/dev/null)
                case $state in running|degraded) break ;; esac
                sleep 0.2
        done
        case $state in running|degraded) ;; *) cat "$TMP/boot.log"; die "the container did not finish booting: '$state'" ;; esac
        echo "# container booted ($state), $(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s since start"
}

n_pass=0 n_fail=0
pass() { echo "PASS: $*"; n_pass=$((n_pass + 1)); }
fail() { echo "FAIL: $*"; n_fail=$((n_fail + 1)); }
quiet() { "$@" >/dev/null 2>&1; }
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

# Powers the container off and exits with the verdict.
nspawn_finish() {
        in_ct systemctl poweroff >/dev/null 2>&1
        for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
        echo "# runtime $(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $n_pass passed, $n_fail failed"
        [ "$n_fail" -eq 0 ]
        exit $?
}
