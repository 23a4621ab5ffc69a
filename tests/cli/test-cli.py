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
                "published", "restart_safe", "locked_bytes", "resident_bytes", "huge_page_bytes"]
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

    # daemon down
    missing = os.path.join(tmp, "missing", "sock")
    p = ctl.run("--socket", missing, "list", socket=False)
    check(p.returncode == 1 and missing in p.stderr and "shmbrokerd running" in p.stderr,
          "missing socket exits 1 with a clear message", describe(p))


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
