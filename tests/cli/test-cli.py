#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# End-to-end test of shmbrokerctl: starts the built daemon ($SHMBROKERD) on a
# private socket and drives the built CLI ($SHMBROKERCTL) through every verb,
# checking exit codes (0 ok, 1 daemon/library error, 2 usage), human and JSON
# output, and error messages. Runs each check even after a failure so one
# run shows everything that is wrong; exits 1 if anything failed.

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

DAEMON = os.environ.get("SHMBROKERD")
CTL = os.environ.get("SHMBROKERCTL")
HOLD = os.environ.get("HOLD_REGION")  # tests/cli/hold-region.c
failures = []


def check(cond, what, detail=""):
    if cond:
        print(f"ok - {what}")
    else:
        print(f"not ok - {what}")
        if detail:
            for line in str(detail).splitlines():
                print(f"#   {line}")
        failures.append(what)
    return cond


class Ctl:
    def __init__(self, socket):
        self.socket = socket

    def run(self, *args, socket=True, env=None):
        argv = [CTL]
        if socket:
            argv += ["--socket", self.socket]
        argv += list(args)
        e = dict(os.environ)
        e.pop("SHMBROKER_SOCKET", None)
        if env:
            e.update(env)
        p = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=10)
        p.argv = argv
        return p


def describe(p):
    return f"$ {' '.join(p.argv)}\nexit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"


def wait_for_daemon(ctl, daemon, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            return False
        if ctl.run("list").returncode == 0:
            return True
        time.sleep(0.05)
    return False


def seal_names(entry):
    return set(entry.get("seals", []))


def test_all(ctl, tmp):
    # create: persistent, mode 0640
    p = ctl.run("create", "cli/a", "1M", "--mode", "0640")
    check(p.returncode == 0 and p.stdout == "", "create cli/a 1M --mode 0640", describe(p))

    # list --json
    p = ctl.run("list", "--json")
    doc = None
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        check(False, "list --json parses", f"{e}\n{describe(p)}")
    entry = None
    if doc is not None:
        check(p.returncode == 0 and isinstance(doc.get("regions"), list), "list --json has regions", describe(p))
        entry = next((r for r in doc.get("regions", []) if r.get("name") == "cli/a"), None)
        check(entry is not None, "list --json contains cli/a", describe(p))
    if entry is not None:
        check(entry.get("size") == 1048576, "cli/a size 1048576", entry)
        check(entry.get("requested_size") == 1048576, "cli/a requested_size 1048576", entry)
        check(entry.get("mode") == 0o640 and entry.get("mode_octal") == "0640", "cli/a mode 416 / 0640", entry)
        check(entry.get("sharing") == "shared", "cli/a sharing shared", entry)
        check(entry.get("lifetime") == "persistent", "cli/a lifetime persistent", entry)
        check({"shrink", "grow", "seal"} <= seal_names(entry), "cli/a seals shrink, grow, seal", entry)
        check(entry.get("uid") == os.getuid(), "cli/a uid is ours", entry)
        check(entry.get("flags") == [] and entry.get("locked") is False, "cli/a no flags", entry)
        keys = ["name", "id", "size", "requested_size", "page_size", "sharing", "lifetime", "uid",
                "gid", "mode", "mode_octal", "flags", "locked", "seals", "created_usec", "holders",
                "published", "restart_safe", "locked_bytes", "resident_bytes", "huge_page_bytes", "dev", "ino"]
        check(list(entry.keys()) == keys, "region object has the documented keys in order", list(entry.keys()))
        check(abs(entry.get("created_usec", 0) / 1e6 - time.time()) < 600, "created_usec is recent", entry)

    # --json before the verb means the same
    p2 = ctl.run("--json", "list")
    check(p2.returncode == 0 and p2.stdout == p.stdout, "--json before the verb", describe(p2))

    # human list
    p = ctl.run("list")
    lines = p.stdout.splitlines()
    header = lines[0].split() if lines else []
    check(p.returncode == 0 and header == ["NAME", "SIZE", "PAGE", "SHARING", "LIFETIME", "OWNER",
                                           "MODE", "LOCKED", "HOLDERS"], "list has a header", describe(p))
    row = next((ln.split() for ln in lines[1:] if ln.split()[:1] == ["cli/a"]), None)
    check(row is not None and row[1] == "1M" and row[2] == "4K" and row[3] == "shared"
          and row[4] == "persistent" and row[6] == "0640" and row[7] == "no",
          "list has a row for cli/a", describe(p))

    # list PREFIX
    p = ctl.run("create", "other/b", "4K")
    check(p.returncode == 0, "create other/b", describe(p))
    p = ctl.run("list", "cli/", "--json")
    names = [r["name"] for r in json.loads(p.stdout)["regions"]] if p.returncode == 0 else None
    check(names == ["cli/a"], "list cli/ filters by prefix", describe(p))
    p = ctl.run("list", "nothing/")
    check(p.returncode == 0 and len(p.stdout.splitlines()) == 1, "empty list prints only the header", describe(p))

    # show
    p = ctl.run("show", "cli/a")
    check(p.returncode == 0 and "cli/a" in p.stdout, "show cli/a", describe(p))
    seals_line = next((ln for ln in p.stdout.splitlines() if ln.startswith("seals:")), "")
    check(all(w in seals_line for w in ("shrink", "grow", "seal")), "show decodes seals by name", describe(p))
    for key in ("size:", "requested size:", "page size:", "sharing:", "lifetime:", "owner:", "group:",
                "mode:", "flags:", "created:", "holders:", "published:", "restart safe:", "locked:",
                "resident:"):
        check(any(ln.startswith(key) for ln in p.stdout.splitlines()), f"show prints '{key}'", describe(p))
    check("1048576 bytes" in p.stdout and "0640" in p.stdout, "show prints exact sizes and the mode", describe(p))

    p = ctl.run("show", "--json", "cli/a")
    try:
        obj = json.loads(p.stdout)
    except ValueError:
        obj = None
    check(p.returncode == 0 and obj is not None, "show --json parses", describe(p))
    if obj is not None and entry is not None:
        check(obj.keys() == entry.keys(), "show --json has the list entry's keys", f"{obj}\n{entry}")
        check(obj["name"] == "cli/a" and obj["id"] == entry["id"], "show --json describes cli/a", obj)

    # SHMBROKER_SOCKET instead of --socket
    p = ctl.run("show", "cli/a", socket=False, env={"SHMBROKER_SOCKET": ctl.socket})
    check(p.returncode == 0, "SHMBROKER_SOCKET selects the socket", describe(p))

    # create --json returns the region object
    p = ctl.run("create", "cli/j", "8K", "--json", "--mode", "644")
    try:
        obj = json.loads(p.stdout)
    except ValueError:
        obj = None
    check(p.returncode == 0 and obj is not None and obj.get("name") == "cli/j"
          and obj.get("size") == 8192 and obj.get("mode") == 0o644, "create --json", describe(p))

    # rounding is reported
    p = ctl.run("create", "cli/r", "1000")
    check(p.returncode == 0 and "4096" in p.stdout, "create 1000 bytes reports the rounded size", describe(p))

    # usage errors: exit 2, daemon untouched
    for args, what in ((("create", "cli/x", "1.5X"), "bad size"),
                       (("create", "cli/x", "0"), "zero size"),
                       (("create", "cli/x"), "missing size"),
                       (("create", "cli/x", "4K", "--mode", "888"), "bad mode"),
                       (("create", "cli/x", "4K", "--lifetime", "forever"), "bad lifetime"),
                       (("create", "cli/x", "4K", "--sharing", "nobody"), "bad sharing"),
                       (("create", "cli/x", "4K", "--page-size", "3M"), "bad page size"),
                       (("create", "cli/x", "4K", "--bogus"), "unknown option"),
                       (("create", "../x", "4K"), "invalid name"),
                       (("show",), "show without a name"),
                       (("show", "a", "b"), "show with two names"),
                       (("frobnicate",), "unknown verb"),
                       ((), "no verb")):
        p = ctl.run(*args)
        check(p.returncode == 2 and p.stderr.startswith("shmbrokerctl: ") and p.stdout == "",
              f"usage error exits 2: {what}", describe(p))
    p = ctl.run("show", "cli/x")
    check(p.returncode == 1, "usage errors created nothing", describe(p))

    # create existing: exit 1, message names the region
    p = ctl.run("create", "cli/a", "1M")
    check(p.returncode == 1 and "cli/a" in p.stderr and p.stderr.startswith("shmbrokerctl: create cli/a: "),
          "create of an existing name exits 1 naming it", describe(p))

    # owner lifetime: allowed with a warning, gone when the CLI exits
    p = ctl.run("create", "cli/o", "4K", "--lifetime", "owner")
    check(p.returncode == 0 and "warning" in p.stderr and "owner" in p.stderr,
          "create --lifetime owner warns", describe(p))
    p = ctl.run("show", "cli/o")
    check(p.returncode == 1, "owner region is gone after the CLI exits", describe(p))

    # delete, then show fails with a not-found message
    p = ctl.run("delete", "cli/a")
    check(p.returncode == 0 and p.stdout == "" and p.stderr == "", "delete cli/a", describe(p))
    p = ctl.run("show", "cli/a")
    err = p.stderr.lower()
    check(p.returncode == 1 and p.stderr.startswith("shmbrokerctl: show cli/a: ")
          and any(w in err for w in ("no such", "not found", "no region")),
          "show of a deleted region exits 1 with a not-found message", describe(p))
    p = ctl.run("delete", "cli/a")
    check(p.returncode == 1, "delete of a missing region exits 1", describe(p))

    # help and version
    p = ctl.run("--help", socket=False)
    check(p.returncode == 0 and all(v in p.stdout for v in ("list", "show", "create", "delete", "--json")),
          "--help lists verbs and options", describe(p))
    p = ctl.run("create", "--help", socket=False)
    check(p.returncode == 0 and "--lifetime" in p.stdout and "--page-size" in p.stdout,
          "create --help lists its options", describe(p))
    p = ctl.run("--version", socket=False)
    check(p.returncode == 0 and p.stdout.startswith("shmbrokerctl "), "--version", describe(p))

    test_inspect(ctl, tmp)

    # daemon down
    missing = os.path.join(tmp, "missing", "sock")
    p = ctl.run("--socket", missing, "list", socket=False)
    check(p.returncode == 1 and missing in p.stderr and "shmbrokerd running" in p.stderr,
          "missing socket exits 1 with a clear message", describe(p))


def start_helper(ctl, name, mode):
    p = subprocess.Popen([HOLD, ctl.socket, name, mode],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    if line[:1] != ["ready"]:
        p.kill()
        p.wait()
        return None, 0
    return p, int(line[1])


def stop_helper(p):
    p.stdin.close()
    p.wait(timeout=5)


def parse_json(p, what):
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        check(False, f"{what}: output parses as JSON", f"{e}\n{describe(p)}")
        return None


def test_inspect(ctl, tmp):
    p = ctl.run("create", "insp/a", "64K", "--mode", "0644")
    check(p.returncode == 0, "create insp/a", describe(p))

    # show: resident bytes, holders, inode identity
    obj = parse_json(ctl.run("show", "--json", "insp/a"), "show insp/a")
    if obj:
        check(obj["holders"] == 0 and obj["resident_bytes"] == 0 and obj["ino"] > 0,
              "show: no holders, nothing resident, an inode", obj)

    # watch sees another client's events, in order
    w = subprocess.Popen([CTL, "--socket", ctl.socket, "watch", "--json", "--count", "4"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The subscription is in place once stats counts a subscriber.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        st = parse_json(ctl.run("stats", "--json"), "stats")
        if st and st.get("subscribers") == 1:
            break
        time.sleep(0.05)
    ctl.run("create", "insp/w", "4K")
    ctl.run("dump", "insp/w", "--length", "16")
    ctl.run("delete", "insp/w")
    try:
        out, err = w.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        w.kill()
        out, err = w.communicate()
    events = []
    for ln in out.splitlines():
        try:
            events.append(json.loads(ln))
        except ValueError:
            events.append({"bad": ln})
    types = [(e.get("type"), e.get("region")) for e in events]
    check(w.returncode == 0 and types == [("create", "insp/w"), ("close", "insp/w"), ("open", "insp/w"),
                                          ("close", "insp/w")],
          "watch --json sees create, close, open, close in order", f"{types}\n{err}")
    # (delete was the fifth event: --count 4 stopped before it)
    if events and "seq" in events[0]:
        seqs = [e["seq"] for e in events]
        check(seqs == sorted(seqs) and all(e["uid"] == os.getuid() and e["pid"] > 0 for e in events),
              "events carry increasing seq, uid and pid", events)
        check(set(events[0].keys()) == {"type", "region", "uid", "pid", "time_usec", "seq", "dropped"},
              "event objects have the documented keys", events[0])

    # holders: a library client's pid and command
    if not HOLD:
        check(False, "HOLD_REGION names the helper")
        return
    helper, hpid = start_helper(ctl, "insp/a", "keep")
    check(helper is not None, "helper client opened insp/a")
    if helper:
        p = ctl.run("holders", "--json", "insp/a")
        obj = parse_json(p, "holders --json")
        if obj:
            hs = obj.get("holders", [])
            check(p.returncode == 0 and obj.get("region") == "insp/a" and obj.get("total") == 1 and len(hs) == 1,
                  "holders --json lists one holder", obj)
            if hs:
                h = hs[0]
                check(h["pid"] == hpid and h["uid"] == os.getuid() and h["access"] == "read"
                      and h["cmdline"].startswith(HOLD + " ") and "insp/a keep" in h["cmdline"]
                      and h["comm"] == "hold-region"
                      and h["gone"] is False, "holder shows the client's pid, uid, access and command", h)
                check(list(h.keys()) == ["handle", "connection", "access", "creator", "pid", "uid", "user", "gid",
                                         "comm", "cmdline", "gone", "verified", "source"], "holder keys documented", h)
                check(h["source"] == "shmbrokerctl", "holder's command line is read by shmbrokerctl, not the daemon", h)
        p = ctl.run("holders", "insp/a")
        check(p.returncode == 0 and str(hpid) in p.stdout and "hold-region" in p.stdout
              and p.stdout.splitlines()[0].split() == ["HANDLE", "ACCESS", "PID", "USER", "COMM", "COMMAND"],
              "holders table shows pid and command", describe(p))
        obj = parse_json(ctl.run("show", "--json", "insp/a"), "show with a holder")
        check(obj is not None and obj["holders"] == 1, "show counts the holder", obj)
        # mappers finds the helper through its mapping
        obj = parse_json(ctl.run("mappers", "--json", "insp/a"), "mappers --json")
        if obj:
            procs = {pr["pid"]: pr for pr in obj.get("processes", [])}
            pr = procs.get(hpid)
            check(pr is not None and len(pr["mappings"]) == 1 and pr["mappings"][0]["perms"].startswith("r-")
                  and pr["mappings"][0]["length"] == 65536 and pr["fds"] != [],
                  "mappers finds the client's read-only mapping and its descriptor", obj)
        stop_helper(helper)

    # mappers: a process that mapped the region, then closed its descriptor
    helper, hpid = start_helper(ctl, "insp/a", "closefd")
    check(helper is not None, "helper client mapped insp/a and closed its fd")
    if helper:
        p = ctl.run("mappers", "--json", "insp/a")
        obj = parse_json(p, "mappers --json (fd closed)")
        if obj:
            pr = next((x for x in obj["processes"] if x["pid"] == hpid), None)
            check(pr is not None and pr["fds"] == [] and len(pr["mappings"]) == 1
                  and pr["comm"] == "hold-region" and pr["uid"] == os.getuid(),
                  "mappers finds a mapping whose descriptor was closed", obj)
            check(set(obj.keys()) == {"region", "dev", "ino", "complete", "unreadable_processes", "processes"},
                  "mappers keys documented", list(obj.keys()))
        p = ctl.run("mappers", "insp/a")
        check(p.returncode == 0 and str(hpid) in p.stdout and "r--s" in p.stdout, "mappers table", describe(p))
        stop_helper(helper)
        # gone: holders no longer lists it
        obj = parse_json(ctl.run("holders", "--json", "insp/a"), "holders after exit")
        check(obj is not None and obj["holders"] == [], "holders empty after the client exited", obj)

    # A region whose lifetime ends gives a delete event, after the close of the handle that ended it.
    w = subprocess.Popen([CTL, "--socket", ctl.socket, "watch", "--json", "--count", "3"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        st = parse_json(ctl.run("stats", "--json"), "stats")
        if st and st.get("subscribers") == 1:
            break
        time.sleep(0.05)
    ctl.run("create", "insp/o", "4K", "--lifetime", "owner")
    try:
        out, err = w.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        w.kill()
        out, err = w.communicate()
    types = [(e.get("type"), e.get("region")) for e in map(json.loads, out.splitlines())]
    check(types == [("create", "insp/o"), ("close", "insp/o"), ("delete", "insp/o")],
          "watch sees an owner region end with its creator", f"{types}\n{err}")

    # stats
    p = ctl.run("stats", "--json")
    st = parse_json(p, "stats --json")
    if st:
        check(st["regions"] >= 1 and st["connections"] >= 1 and st["requests"] > 0
              and st["requests_by_type"].get("hello", 0) > 0 and st["uptime_usec"] > 0
              and st["errors_by_status"].get("not-found", 0) > 0 and st["events"] >= 4,
              "stats --json counts regions, requests by type, errors by status, events", st)
    p = ctl.run("stats")
    check(p.returncode == 0 and "uptime:" in p.stdout and "requests:" in p.stdout, "stats human", describe(p))

    # dump: hexdump -C format through a read-only mapping
    p = ctl.run("dump", "insp/a", "--length", "40")
    check(p.returncode == 0 and p.stdout == "00000000  " + " ".join(["00"] * 8) + "  " + " ".join(["00"] * 8)
          + "  |................|\n*\n00000020  " + " ".join(["00"] * 8) + "  " + " " * 23
          + "  |........|\n00000028\n", "dump looks like hexdump -C", describe(p))
    obj = parse_json(ctl.run("dump", "--json", "insp/a", "--offset", "4K", "--length", "4"), "dump --json")
    check(obj == {"region": "insp/a", "offset": 4096, "length": 4, "hex": "00000000"}, "dump --json", obj)
    p = ctl.run("dump", "insp/a", "--offset", "1M")
    check(p.returncode == 1 and "beyond" in p.stderr, "dump past the end exits 1", describe(p))
    p = ctl.run("dump", "insp/a", "--length", "x")
    check(p.returncode == 2, "dump with a bad length exits 2", describe(p))

    # list: sort and filter
    ctl.run("create", "insp/big", "1M")
    ctl.run("create", "insp/small", "8K")
    p = ctl.run("list", "insp/", "--sort", "size", "--json")
    obj = parse_json(p, "list --sort size")
    if obj:
        check([r["name"] for r in obj["regions"]] == ["insp/small", "insp/a", "insp/big"], "list --sort size", obj)
    p = ctl.run("list", "insp/", "--sort", "created", "--reverse")
    names = [ln.split()[0] for ln in p.stdout.splitlines()[1:]]
    check(names == ["insp/small", "insp/big", "insp/a"], "list --sort created --reverse", describe(p))
    p = ctl.run("list", "--owner", "65534", "--json")
    obj = parse_json(p, "list --owner")
    check(obj == {"regions": []}, "list --owner 65534 shows none", obj)
    p = ctl.run("list", "insp/", "--owner", "root" if os.getuid() == 0 else str(os.getuid()), "--json")
    obj = parse_json(p, "list --owner self")
    check(obj is not None and len(obj["regions"]) == 3, "list --owner self shows ours", obj)
    p = ctl.run("list", "--sort", "colour")
    check(p.returncode == 2, "list --sort with a bad key exits 2", describe(p))

    # delete --json
    obj = parse_json(ctl.run("delete", "--json", "insp/small"), "delete --json")
    check(obj == {"name": "insp/small", "deleted": True}, "delete --json", obj)

    # errors: unknown region for each verb that names one
    for verb in ("holders", "mappers", "dump", "show"):
        p = ctl.run(verb, "insp/nope")
        check(p.returncode == 1 and p.stderr.startswith(f"shmbrokerctl: {verb} insp/nope: ")
              and "no region" in p.stderr, f"{verb} of an unknown region exits 1", describe(p))

    # permission: uid 65534 may not list holders of a region it does not own
    if os.getuid() == 0:
        # The socket's directory is private to the test; uid 65534 must reach the socket (mode 0666).
        os.chmod(os.path.dirname(ctl.socket), 0o755)

        def as_nobody():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        argv = [CTL, "--socket", ctl.socket, "holders", "insp/a"]
        p = subprocess.run(argv, capture_output=True, text=True, preexec_fn=as_nobody, timeout=10)
        p.argv = argv
        check(p.returncode == 1 and p.stderr.startswith("shmbrokerctl: holders insp/a: permission denied"),
              "holders as uid 65534 is denied", describe(p))
        argv = [CTL, "--socket", ctl.socket, "mappers", "--json", "insp/a"]
        p = subprocess.run(argv, capture_output=True, text=True, preexec_fn=as_nobody, timeout=10)
        p.argv = argv
        obj = None
        try:
            obj = json.loads(p.stdout)
        except ValueError:
            pass
        check(p.returncode == 0 and obj is not None and obj["complete"] is False,
              "mappers as uid 65534 says it is incomplete", describe(p))
        argv = [CTL, "--socket", ctl.socket, "mappers", "insp/a"]
        p = subprocess.run(argv, capture_output=True, text=True, preexec_fn=as_nobody, timeout=10)
        p.argv = argv
        check(p.returncode == 0 and "only your own processes" in p.stdout, "mappers as uid 65534 says so", describe(p))
        argv = [CTL, "--socket", ctl.socket, "watch", "--json", "--count", "1"]
        w = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, preexec_fn=as_nobody)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            st = parse_json(ctl.run("stats", "--json"), "stats")
            if st and st.get("subscribers") == 1:
                break
            time.sleep(0.05)
        ctl.run("create", "insp/private", "4K", "--mode", "0600")
        ctl.run("create", "insp/public", "4K", "--mode", "0644")
        try:
            out, _ = w.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            w.kill()
            out, _ = w.communicate()
        ev = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
        check([e["region"] for e in ev] == ["insp/public"], "watch as uid 65534 sees only visible regions", ev)

    # daemon down, for the new verbs
    missing = os.path.join(tmp, "missing", "sock")
    for verb in (("stats",), ("watch",), ("holders", "x"), ("mappers", "x"), ("dump", "x")):
        p = ctl.run("--socket", missing, *verb, socket=False)
        check(p.returncode == 1 and "shmbrokerd running" in p.stderr, f"{verb[0]} with no daemon exits 1", describe(p))


def main():
    if not DAEMON or not CTL:
        print("SHMBROKERD and SHMBROKERCTL must name the built programs", file=sys.stderr)
        return 77
    with tempfile.TemporaryDirectory(prefix="shmb-cli-") as tmp:
        sock = os.path.join(tmp, "sock")
        ctl = Ctl(sock)
        log = open(os.path.join(tmp, "daemon.log"), "w+")
        env = dict(os.environ)
        env.pop("SHMBROKER_SOCKET", None)
        daemon = subprocess.Popen([DAEMON, "--socket", sock], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            if not check(wait_for_daemon(ctl, daemon), "daemon accepts connections within 5 s"):
                return 1
            test_all(ctl, tmp)
            check(daemon.poll() is None, "daemon still running")
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
            log.seek(0)
            out = log.read()
            log.close()
        check(daemon.returncode == 0, "daemon exits 0 on SIGTERM", f"exit {daemon.returncode}")
        if failures:
            print("# daemon log:")
            for line in out.splitlines():
                print(f"#   {line}")
    print(f"# {len(failures)} failed" if failures else "# all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
