#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# Stands in for systemd around the real shmbrokerd, so the fd store can be
# tested on every CI run without a booted systemd. It does what PID 1 does
# for a Type=notify service with a socket unit and FileDescriptorStoreMax=:
#   - owns the listening SOCK_SEQPACKET socket (it outlives the daemon, like
#     the socket unit's), and passes it at fd 3 named "control";
#   - listens on a datagram NOTIFY_SOCKET with SO_PASSCRED and honours only
#     the main pid (NotifyAccess=main): READY=1, STATUS=, WATCHDOG=1,
#     STOPPING=1, FDSTORE=1 + FDNAME= (up to FileDescriptorStoreMax fds,
#     more are closed), FDSTOREREMOVE=1 + FDNAME=;
#   - starts the next instance with the stored fds after the socket, in
#     store order, with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set to the
#     child's own pid (set after fork, before exec);
#   - supplies WATCHDOG_USEC and kills a daemon that misses it (SIGABRT,
#     then SIGKILL, as WatchdogSignal= and the abort timeout would).
# Scenarios: SIGKILL, SIGTERM, watchdog miss, restore grace period, a full
# store, stored fds that do not parse, a torn metadata record, thousands of
# creates and deletes (log compaction); client reconnect and mappings are
# checked through tests/systemd/fdstore-client. Last, the journal fields:
# the daemon in a private mount namespace whose /run/systemd is ours, so its
# native journal datagrams reach a socket this script reads.
#
# Environment: SHMBROKERD, FDSTORE_CLIENT, SHMBROKERCTL. Prints TAP-ish
# "ok"/"not ok" lines; exit 0 all passed, 1 otherwise.
import array
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SHMBROKERD = os.path.abspath(os.environ["SHMBROKERD"])
CLIENT = os.path.abspath(os.environ["FDSTORE_CLIENT"])
CTL = os.path.abspath(os.environ["SHMBROKERCTL"])

failures = 0
checks = 0
MANAGERS = []


def check(cond, what, detail=""):
    global failures, checks
    checks += 1
    if cond:
        print(f"ok {checks} - {what}")
    else:
        failures += 1
        print(f"not ok {checks} - {what}" + (f": {detail}" if detail else ""))
    sys.stdout.flush()
    return cond


class Manager:
    def __init__(self, tmp, store_max=32768, tag="m"):
        self.tmp = tmp
        self.store_max = store_max
        self.sock_path = os.path.join(tmp, f"{tag}.sock")
        self.notify_path = os.path.join(tmp, f"{tag}.notify")
        self.listen = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listen.bind(self.sock_path)
        self.listen.listen(128)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.notify.bind(self.notify_path)
        self.store = []          # [(name, fd)] in the order stored
        self.refused = 0
        self.pid = None
        self.log_path = None
        self.reset_state()
        MANAGERS.append(self)

    def reset_state(self):
        self.ready = False
        self.stopping = False
        self.status = None
        self.last_watchdog = None
        self.watchdogs = 0

    def close(self):
        for _, fd in self.store:
            os.close(fd)
        self.store = []
        self.listen.close()
        self.notify.close()

    def names(self):
        return [n for n, _ in self.store]

    # Service start: fds 3.. are the socket, then the store; LISTEN_PID is the child's pid.
    def start(self, args=(), watchdog_usec=None, log_name="daemon.log"):
        self.reset_state()
        fds = [self.listen.fileno()] + [fd for _, fd in self.store]
        names = ["control"] + self.names()
        env = {k: v for k, v in os.environ.items()
               if k not in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
                            "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "SHMBROKER_SOCKET")}
        env["NOTIFY_SOCKET"] = self.notify_path
        env["LISTEN_FDS"] = str(len(fds))
        env["LISTEN_FDNAMES"] = ":".join(names)
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.log_path = os.path.join(self.tmp, log_name)
        logfd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        pid = os.fork()
        if pid == 0:
            try:
                base = max(max(fds), 3 + len(fds)) + 1
                high = [fcntl.fcntl(fd, fcntl.F_DUPFD, base) for fd in fds]
                os.dup2(logfd, 1)
                os.dup2(logfd, 2)
                for i, fd in enumerate(high):
                    os.dup2(fd, 3 + i, inheritable=True)
                os.closerange(3 + len(fds), 65536)
                env["LISTEN_PID"] = str(os.getpid())
                os.execve(SHMBROKERD, [SHMBROKERD] + list(args), env)
            finally:
                os._exit(127)
        os.close(logfd)
        self.pid = pid
        return pid

    def pump(self, timeout):
        """Handles notify messages for up to timeout seconds (returns after the first batch)."""
        r, _, _ = select.select([self.notify], [], [], timeout)
        if not r:
            return
        while True:
            try:
                msg, anc, _, _ = self.notify.recvmsg(4096, socket.CMSG_SPACE(253 * 4) +
                                                     socket.CMSG_SPACE(12), socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            fds, sender = [], None
            for level, typ, data in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(data[:len(data) - len(data) % a.itemsize])
                    fds.extend(a)
                elif level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    sender = struct.unpack("iII", data[:12])[0]
            if sender != self.pid:
                # NotifyAccess=main
                for fd in fds:
                    os.close(fd)
                continue
            fields = {}
            for line in msg.decode(errors="replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            if fields.get("FDSTORE") == "1":
                name = fields.get("FDNAME", "stored")
                for fd in fds:
                    if len(self.store) >= self.store_max:
                        os.close(fd)
                        self.refused += 1
                    else:
                        os.set_inheritable(fd, False)
                        self.store.append((name, fd))
                fds = []
            for fd in fds:
                os.close(fd)
            if fields.get("FDSTOREREMOVE") == "1" and "FDNAME" in fields:
                keep = []
                for n, fd in self.store:
                    if n == fields["FDNAME"]:
                        os.close(fd)
                    else:
                        keep.append((n, fd))
                self.store = keep
            if fields.get("READY") == "1":
                self.ready = True
            if "STATUS" in fields:
                self.status = fields["STATUS"]
            if fields.get("WATCHDOG") == "1":
                self.last_watchdog = time.monotonic()
                self.watchdogs += 1
            if fields.get("STOPPING") == "1":
                self.stopping = True

    def wait_for(self, pred, timeout=10.0):
        end = time.monotonic() + timeout
        while not pred():
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.pump(min(left, 0.05))
        return True

    def wait_ready(self):
        ok = self.wait_for(lambda: self.ready or self.exited() is not None)
        return ok and self.ready

    def exited(self):
        if self.pid is None:
            return None
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        self.pid = None
        self.status_code = status
        return status

    def stop(self, sig, timeout=10.0):
        """Sends sig and waits for the exit, still serving the notify socket (the store stays current)."""
        pid = self.pid
        os.kill(pid, sig)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump(0.02)
            p, status = os.waitpid(pid, os.WNOHANG)
            if p:
                self.pid = None
                self.pump(0)  # what was sent before dying counts
                return status
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        self.pid = None
        return status

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""


def run(*args, timeout=30):
    p = subprocess.run([CLIENT, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def dump(m):
    rc, out = run(m.sock_path, "dump")
    lines = [l for l in out.splitlines() if l]
    return rc, {l.split(" ", 1)[0]: l for l in lines}


class Holder:
    """fdstore-client hold: a long-lived client whose mappings and connection span restarts."""

    def __init__(self, m, prefix):
        self.p = subprocess.Popen([CLIENT, m.sock_path, "hold", prefix], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.first = self.p.stdout.readline().strip()

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def quit(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        return self.p.wait(timeout=10)

    def kill(self):
        self.p.kill()
        self.p.wait()


def same_attrs(before, after, names):
    bad = [n for n in names if n not in before or before.get(n) != after.get(n)]
    return not bad, "; ".join(f"before: {before.get(n)} after: {after.get(n)}" for n in bad)


KINDS = ["persist-shared", "persist-sw", "persist-imm", "owner", "ref", "prealloc"]


def main_scenarios(tmp):
    m = Manager(tmp)
    P = "fs/"
    names = [P + k for k in KINDS]

    m.start()
    if not check(m.wait_ready(), "daemon sends READY=1 under the fake manager", m.log()):
        return m
    check(m.status is not None and "regions: 0" in m.status, "STATUS= with live counts", str(m.status))
    check(m.names() == ["meta0"], "an empty metadata log is stored at start", str(m.names()))

    h = Holder(m, P)
    if not check(h.first == "ok ready", "holder created regions of every kind", h.first):
        h.kill()
        return m
    m.pump(0.2)
    rc, before = dump(m)
    check(rc == 0 and len(before) == 7, "seven regions exist before the crash", str(before))
    check(all("restart_safe=1" in l for l in before.values()), "every region is restart-safe",
          "\n".join(before.values()))
    stored = m.names()
    check(len(stored) == 8 and len(set(stored)) == 8 and all(len(n) == 3 for n in stored if n != "meta0"),
          "fd store holds 7 region fds with unique 3-character names and the metadata log", str(stored))

    # A locked region: after the restart it must be locked and charged to its owner again.
    rc = subprocess.run([CTL, "--socket", m.sock_path, "create", P + "locked", "64K", "--locked"],
                        capture_output=True, text=True)
    check(rc.returncode == 0, "a locked region is created", rc.stderr)
    m.pump(0.2)

    # A descriptor that is not ours and one without metadata: both dropped at restore.
    junk1 = os.memfd_create("junk", os.MFD_CLOEXEC)
    junk2 = os.memfd_create("junk", os.MFD_CLOEXEC)
    m.store += [("zzz", junk1), ("not-a-region", junk2)]

    # 1. SIGKILL
    st = m.stop(signal.SIGKILL)
    # A record cut short by the kill: the log reader stops there and keeps what precedes it.
    meta_fd = dict(m.store)["meta0"]
    os.pwrite(meta_fd, struct.pack("IIII", 1, 4000, 0, 0) + b"half a record", os.fstat(meta_fd).st_size)
    check(os.WIFSIGNALED(st), "daemon killed with SIGKILL")
    check(h.ask("check") == "ok mappings intact", "holder's mappings are intact while the daemon is down")
    m.start(["--restore-grace-ms", "10000"])
    check(m.wait_ready(), "restarted daemon is ready", m.log())
    rc, after = dump(m)
    ok, why = same_attrs(before, after, names)
    check(rc == 0 and ok, "after SIGKILL every attribute of every region came back", why)
    check(P + "unpub-imm" not in after, "an unpublished immutable region whose creator is gone is destroyed",
          str(after.get(P + "unpub-imm")))
    rc, out = run(m.sock_path, "verify", *names)
    check(rc == 0 and out.startswith("ok 6"), "after SIGKILL every byte came back", out)
    # Restored regions count against their owner's quotas again, locked bytes included.
    lst = subprocess.run([CTL, "--socket", m.sock_path, "--json", "list"], capture_output=True, text=True)
    quo = subprocess.run([CTL, "--socket", m.sock_path, "--json", "quota", "0"], capture_output=True, text=True)
    try:
        regions = [r for r in json.loads(lst.stdout)["regions"] if r["uid"] == 0]
        q = json.loads(quo.stdout)
        want = (len(regions), sum(r["size"] for r in regions), 65536)
        got = (q["regions"], q["total_bytes"], q["locked_bytes"])
    except (ValueError, KeyError) as e:
        want, got = "json", repr(e) + lst.stdout + lst.stderr + quo.stdout + quo.stderr
    check(want == got, "restored regions are charged to their owner's quota again (regions, bytes, locked)",
          "expected %r, quota says %r" % (want, got))
    lr = [r for r in regions if r["name"] == P + "locked"] if isinstance(want, tuple) else []
    check(len(lr) == 1 and lr[0]["locked_bytes"] == 65536, "a restored locked region is locked again",
          str(lr))
    check("zzz" not in m.names() and "not-a-region" not in m.names(),
          "stored fds that do not parse are closed and removed from the store", str(m.names()))
    check("no metadata" in m.log() and "not a name this daemon stores" in m.log(),
          "the daemon warned about them", m.log()[-2000:])
    check(len(m.names()) == 8 and sum(1 for n in m.names() if n.startswith("meta")) == 1,
          "the store holds 7 regions (6 kinds and the locked one) and one (rewritten) metadata log",
          str(m.names()))
    a = h.ask("reopen")
    check(a == "ok reopened",
          "holder reconnects transparently, reopens owner/refcounted regions, closes old handles", a)
    check(h.ask("check") == "ok mappings intact", "holder's mappings intact after the restart")

    # ids are never reused: a new region gets an id above every restored one.
    subprocess.run([CTL, "--socket", m.sock_path, "create", "fs/after", "4096"], capture_output=True)
    rc, now = dump(m)
    ids = [int(l.split(" id=")[1].split()[0]) for n, l in before.items()]
    new_id = int(now["fs/after"].split(" id=")[1].split()[0]) if "fs/after" in now else -1
    check(new_id > max(ids), "ids stay unique across restarts", f"{new_id} vs {max(ids)}")
    before = now

    # 2. graceful restart
    st = m.stop(signal.SIGTERM)
    check(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0 and m.stopping, "SIGTERM: STOPPING=1 and exit 0")
    m.start()
    check(m.wait_ready(), "daemon ready after a graceful restart", m.log())
    rc, after = dump(m)
    ok, why = same_attrs(before, after, names + ["fs/after"])
    check(rc == 0 and ok, "after SIGTERM every attribute came back (owner/refcounted ones too)", why)
    rc, out = run(m.sock_path, "verify", *names)
    check(rc == 0, "after SIGTERM every byte came back", out)
    check(h.ask("reopen") == "ok reopened", "holder reconnects after the graceful restart")

    # 3. watchdog miss
    m.stop(signal.SIGTERM)
    m.start(watchdog_usec=1000000)
    check(m.wait_ready(), "daemon ready with WATCHDOG_USEC", m.log())
    check(m.wait_for(lambda: m.watchdogs >= 2, 3), "WATCHDOG=1 arrives at half the interval", str(m.watchdogs))
    os.kill(m.pid, signal.SIGSTOP)
    last = m.last_watchdog
    m.wait_for(lambda: time.monotonic() - last > 1.0, 3)
    check(m.last_watchdog == last, "a stopped daemon sends no WATCHDOG=1")
    os.kill(m.pid, signal.SIGABRT)     # WatchdogSignal=, pending while stopped
    st = m.stop(signal.SIGKILL)        # the abort timeout runs out
    check(os.WIFSIGNALED(st), "watchdog: the hung daemon was killed")
    # Long enough for the checks below under ASan; short enough to wait out.
    m.start(["--restore-grace-ms", "3000"])
    started = time.monotonic()
    check(m.wait_ready(), "daemon ready after a watchdog kill", m.log())
    rc, after = dump(m)
    ok, why = same_attrs(before, after, names + ["fs/after"])
    check(rc == 0 and ok, "after a watchdog kill every attribute came back", why)
    rc, out = run(m.sock_path, "verify", *names)
    check(rc == 0, "after a watchdog kill every byte came back", out)
    check(h.ask("reopen") == "ok reopened", "holder reconnects after the watchdog kill")
    check(h.ask("check") == "ok mappings intact", "holder's first mappings survived three restarts")

    # Reopened within the grace period: still there after it, while held.
    time.sleep(max(0, started + 3.3 - time.monotonic()))
    rc, now = dump(m)
    check(P + "owner" in now and P + "ref" in now, "reopened owner/refcounted regions outlive the grace period",
          str(list(now)))
    # The holder leaves: its reopened owner/refcounted regions go with it.
    check(h.quit() == 0, "holder exits cleanly")
    m.pump(0.2)
    rc, now = dump(m)
    check(P + "owner" not in now and P + "ref" not in now,
          "restored owner/refcounted regions end with their last holder", str(list(now)))
    check(sorted(n for n in m.names() if not n.startswith("meta")).__len__() == len(now),
          "FDSTOREREMOVE keeps the store in step with the registry", f"{m.names()} vs {list(now)}")

    # 4. grace period: owner/refcounted regions nobody reopens are destroyed.
    h3 = Holder(m, "h/")
    check(h3.first == "ok ready", "third holder created its regions", h3.first)
    m.pump(0.2)
    m.stop(signal.SIGKILL)
    h3.kill()
    m.start(["--restore-grace-ms", "500"])
    check(m.wait_ready(), "daemon ready with a 500 ms grace period", m.log())
    rc, now = dump(m)
    check("h/owner" in now and "h/ref" in now, "owner/refcounted regions are back during the grace period",
          str(list(now)))
    time.sleep(0.8)
    m.pump(0.1)
    rc, now = dump(m)
    check("h/owner" not in now and "h/ref" not in now and "h/persist-shared" in now,
          "unclaimed owner/refcounted regions are destroyed when the grace period ends", str(list(now)))
    check("restore grace period" in m.log(), "the daemon logged it", m.log()[-1500:])
    m.stop(signal.SIGTERM)
    return m


def full_store(tmp):
    # FileDescriptorStoreMax=4: the metadata log keeps two slots, so two regions are restart-safe.
    m = Manager(tmp, store_max=4, tag="full")
    m.start(["--fdstore-max", "4"])
    check(m.wait_ready(), "daemon ready with a small fd store", m.log())
    for n in ("a", "b", "c"):
        subprocess.run([CTL, "--socket", m.sock_path, "create", "full/" + n, "4096"], capture_output=True)
    m.pump(0.2)
    rc, d = dump(m)
    flags = [("restart_safe=1" in d.get("full/" + n, "")) for n in ("a", "b", "c")]
    check(flags == [True, True, False], "past the store's capacity regions are marked not restart-safe", str(d))
    check("fd store is full" in m.log(), "the full store is logged", m.log()[-1000:])
    check(m.refused == 0, "the daemon never overfills the store", str(m.refused))
    m.stop(signal.SIGKILL)
    m.start(["--fdstore-max", "4"])
    check(m.wait_ready(), "restarted", m.log())
    rc, d = dump(m)
    check(sorted(d) == ["full/a", "full/b"], "only restart-safe regions come back", str(list(d)))
    m.stop(signal.SIGTERM)
    # --socket wins over the passed socket, and the fd store is still restored.
    other = os.path.join(tmp, "other.sock")
    m.start(["--fdstore-max", "4", "--socket", other])
    check(m.wait_ready(), "ready with --socket and a passed socket", m.log())
    rc, out = run(other, "dump")
    check(rc == 0 and "full/a" in out and "full/b" in out, "--socket: regions restored and served there", out)
    check("ignoring the socket passed" in m.log(), "--socket: the passed socket is ignored with a notice")
    m.stop(signal.SIGTERM)
    return m


def churn(tmp, n=3000):
    # Thousands of creates and deletes: the metadata log is compacted on the way.
    m = Manager(tmp, tag="churn")
    m.start(["--verbose"], log_name="churn.log")
    check(m.wait_ready(), "daemon ready for the churn run", m.log())
    t = time.monotonic()
    p = subprocess.Popen([CLIENT, m.sock_path, "churn", str(n)], stdout=subprocess.PIPE, text=True)
    while p.poll() is None:
        m.pump(0.05)
    out = p.stdout.read()
    took = time.monotonic() - t
    check(out.startswith("ok"), f"{n} creates, {n // 3} re-creates, {n // 2} deletes in {took:.1f} s", out)
    m.pump(0.2)
    check("metadata log compacted" in m.log(), "the metadata log was compacted")
    check(len(m.names()) == (n + 1) // 2 + 1, "the store holds exactly the live regions and one log",
          str(len(m.names())))
    m.stop(signal.SIGKILL)
    m.start()
    check(m.wait_ready(), "restarted after the churn", m.log())
    rc, d = dump(m)
    want = sorted(f"c/{i}" for i in range(0, n, 2))
    check(sorted(d) == want, "exactly the surviving regions came back", f"{len(d)} vs {len(want)}")
    rc, out = run(m.sock_path, "verify", *[f"c/{i}" for i in range(0, n, 2 * 97)])
    check(rc == 0, "their contents came back", out)
    m.stop(signal.SIGTERM)


def no_manager(tmp):
    # Without NOTIFY_SOCKET the daemon starts empty and marks nothing restart-safe.
    sock = os.path.join(tmp, "plain.sock")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID")}
    p = subprocess.Popen([SHMBROKERD, "--socket", sock], env=env, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.02)
    time.sleep(0.1)
    subprocess.run([CTL, "--socket", sock, "create", "plain/a", "4096"], capture_output=True)
    rc, out = run(sock, "dump")
    check("plain/a" in out and "restart_safe=0" in out, "without a service manager regions are not restart-safe",
          out)
    p.terminate()
    p.wait()


def journal(tmp):
    # Structured journal fields, without journald: the daemon runs in a private mount namespace in
    # which /run/systemd is a directory of ours, so sd_journal_sendv() reaches the socket we bind.
    if shutil.which("unshare") is None or os.getuid() != 0:
        print("# SKIP journal fields: needs root and unshare")
        return
    jdir = os.path.join(tmp, "run-systemd")
    os.makedirs(os.path.join(jdir, "journal"))
    js = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    js.bind(os.path.join(jdir, "journal", "socket"))
    sock = os.path.join(tmp, "journal.sock")
    errpath = os.path.join(tmp, "journal-stderr.log")
    entries = []

    def collect(t):
        end = time.monotonic() + t
        while time.monotonic() < end:
            r, _, _ = select.select([js], [], [], 0.05)
            if r:
                entries.append(js.recv(65536).decode(errors="replace"))

    def start(journal_stream):
        err = open(errpath, "w")
        st = os.fstat(err.fileno())
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID")}
        if journal_stream:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                              'mount --bind "$0" /run/systemd && exec "$@"', jdir,
                              SHMBROKERD, "--socket", sock, "--verbose"],
                             env=env, stderr=err, stdout=subprocess.DEVNULL)
        err.close()
        for _ in range(250):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        time.sleep(0.1)
        return p

    p = start(True)
    subprocess.run([CTL, "--socket", sock, "create", "j/region", "4096"], capture_output=True)
    run(sock, "violate")
    collect(0.5)
    p.terminate()
    p.wait()
    viol = [e for e in entries if "MESSAGE_ID=4fdc2f81b97840d4837b82db34b572c5" in e]
    check(len(viol) == 1 and "PEER_UID=0\n" in viol[0] and "PEER_PID=" in viol[0] and
          "SYSLOG_IDENTIFIER=shmbrokerd" in viol[0] and "PRIORITY=4" in viol[0],
          "journal: a protocol violation carries MESSAGE_ID, PEER_UID, PEER_PID", str(viol or entries[-3:]))
    made = [e for e in entries if "MESSAGE_ID=ea31b2eaf17845739e7017503b9925a0" in e]
    check(len(made) == 1 and "REGION=j/region\n" in made[0] and "PEER_UID=0\n" in made[0],
          "journal: a region create carries REGION and the peer", str(made))
    with open(errpath) as f:
        err = f.read()
    check(err == "", "journal: nothing goes to stderr when it is the journal", err)

    # Not the journal: the stderr lines are as they always were.
    collect(0.2)  # what the first daemon logged while exiting
    entries.clear()
    if os.path.exists(sock):
        os.unlink(sock)
    p = start(False)
    rc, out = run(sock, "violate")
    collect(0.3)
    p.terminate()
    p.wait()
    with open(errpath) as f:
        err = f.read()
    check(not entries and any(l.startswith("shmbrokerd: warning: dropping client uid 0 pid ")
                              for l in err.splitlines()),
          "stderr: unchanged format without the journal", err + out)
    js.close()


def main():
    tmp = tempfile.mkdtemp(prefix="shmb-fdstore.")
    try:
        main_scenarios(tmp)
        full_store(tmp)
        churn(tmp)
        journal(tmp)
        no_manager(tmp)
    finally:
        for m in MANAGERS:
            if m.pid:
                os.kill(m.pid, signal.SIGKILL)
                os.waitpid(m.pid, 0)
            m.close()
        subprocess.run(["rm", "-rf", tmp])
    print(f"# {checks - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
