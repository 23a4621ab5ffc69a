#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# shmbrokerd --config, end to end: every kind of invalid configuration stops
# the daemon at start (exit status 1) with "FILE:LINE: problem" on stderr;
# a valid file sets limits and quotas, and command-line options override it
# (checked through `shmbrokerctl quota --json`). The example config shipped
# in systemd/ must load as it is.

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

DAEMON = os.environ.get("SHMBROKERD")
CTL = os.environ.get("SHMBROKERCTL")
EXAMPLE = os.environ.get("SHMBROKER_CONF_EXAMPLE")
failures = []


def check(cond, what, detail=""):
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        for line in str(detail).splitlines():
            print(f"#   {line}")
        failures.append(what)
    return cond


def run_daemon(tmp, conf_text, *extra, name="shmbroker.conf"):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(conf_text)
    sock = os.path.join(tmp, "sock")
    return path, subprocess.Popen([DAEMON, "--socket", sock, "--config", path, *extra],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def expect_refused(tmp, conf_text, line, fragment, *extra):
    path, p = run_daemon(tmp, conf_text, *extra)
    try:
        out, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        check(False, f"refused at line {line}: {fragment}", "daemon kept running\n" + err)
        return
    want = f"{path}:{line}: " if line else f"{path}: "
    check(p.returncode == 1 and want in err and fragment in err,
          f"refused at line {line}: {fragment}", f"exit {p.returncode}\nstderr: {err}")


def start_ok(tmp, conf_text, *extra, path=None):
    if path:
        sock = os.path.join(tmp, "sock")
        p = subprocess.Popen([DAEMON, "--socket", sock, "--config", path, *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    else:
        path, p = run_daemon(tmp, conf_text, *extra)
    sock = os.path.join(tmp, "sock")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and p.poll() is None:
        r = subprocess.run([CTL, "--socket", sock, "quota", "--json"], capture_output=True, text=True)
        if r.returncode == 0:
            return p, json.loads(r.stdout)
        time.sleep(0.05)
    p.kill()
    out, err = p.communicate()
    check(False, "daemon starts with a valid config", err)
    return None, None


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
    return p.returncode


def main():
    if not DAEMON or not CTL:
        print("1..0 # SKIP SHMBROKERD or SHMBROKERCTL not set")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        expect_refused(tmp, "[limits]\nmax-regions = 10\n\n[bogus]\nx = 1\n", 4, "unknown section [bogus]")
        expect_refused(tmp, "[quota]\nlockd = 1M\n", 2, "unknown key 'lockd' in [quota]")
        expect_refused(tmp, "[limits]\nmax-region-size = 12Q\n", 2, "'12Q' is not a size")
        expect_refused(tmp, "[quota]\nregions = -1\n", 2, "is not a whole number")
        expect_refused(tmp, "[quota]\nexempt-root = maybe\n", 2, "is not yes or no")
        expect_refused(tmp, "# comment\nnot an assignment\n", 2, "syntax error")
        expect_refused(tmp, "[limits]\nmax-locked = 8M\n[quota.uid:1000]\nbytes = 1G\nlocked = 16M\n", 5,
                       "locked = 16M for uid 1000 is above the global max-locked of 8M")
        expect_refused(tmp, "[quota]\nconnections = 5000\n", 2, "above the global max-connections of 4096")
        expect_refused(tmp, "[quota.user:no-such-user-shmb]\nlocked = 1M\n", 1, "no user named")
        expect_refused(tmp, "[quota.group:no-such-group-shmb]\nlocked = 1M\n", 1, "no group named")
        expect_refused(tmp, "[access]\nadmin-group = no-such-group-shmb\n", 2, "admin-group: no group named")
        expect_refused(tmp, "[limits]\nmax-wait = soon\n", 2, "is not a duration")
        expect_refused(tmp, "[limits]\nmax-regions = 0\n", 2, "at least 1")
        expect_refused(tmp, "[quota.uid:abc]\n", 1, "not a numeric id")
        # A missing file is an error too, naming the file.
        p = subprocess.run([DAEMON, "--socket", os.path.join(tmp, "sock"), "--config",
                            os.path.join(tmp, "missing.conf")], capture_output=True, text=True, timeout=5)
        check(p.returncode == 1 and "missing.conf: cannot open" in p.stderr, "missing file refused", p.stderr)

        conf = ("[limits]\nmax-locked = 32M\nmax-regions = 50\n\n[quota]\nlocked = 16M\nbytes = 1G\n"
                "regions = 20\n; inline comments and blank lines are fine\n\n[quota.uid:0]\nregions = 7\n"
                "handles = 9\n")
        p, q = start_ok(tmp, conf)
        if p:
            e = q["quotas"][0] if q.get("quotas") else q
            check(e.get("uid") == 0 and e.get("locked_limit") == 16 << 20 and e.get("total_limit") == 1 << 30
                  and e.get("regions_limit") == 7 and e.get("handles_limit") == 9
                  and e.get("global_locked_limit") == 32 << 20, "valid config applies, uid entry wins", q)
            sock = os.path.join(tmp, "sock")
            r = subprocess.run([CTL, "--socket", sock, "quota"], capture_output=True, text=True)
            check(r.returncode == 0 and "locked:" in r.stdout and "0 of 16M" in r.stdout
                  and "regions:        0 of 7" in r.stdout and "daemon locked:  0 of 32M" in r.stdout,
                  "shmbrokerctl quota shows usage against limits", r.stdout + r.stderr)
            r = subprocess.run([CTL, "--socket", sock, "quota", "no-such-user-shmb"], capture_output=True,
                               text=True)
            check(r.returncode == 2 and "not a known user name" in r.stderr, "quota of an unknown user: usage error",
                  r.stderr)
            r = subprocess.run([CTL, "--socket", sock, "quota", "0", "--all"], capture_output=True, text=True)
            check(r.returncode == 2, "quota USER --all: usage error", r.stderr)
            r = subprocess.run([CTL, "--socket", sock, "create", "cfg/big", "2G"], capture_output=True, text=True)
            check(r.returncode == 1 and "memory quota for uid 0 exceeded: 0 of 1G in use, 2G requested" in r.stderr,
                  "create over the bytes quota names usage, limit and request", r.stderr)
            check(stop(p) == 0, "daemon with a config stops cleanly")
        p, q = start_ok(tmp, conf, "--quota-locked", "4M", "--max-locked", "24M", "--quota-handles", "3")
        if p:
            e = q["quotas"][0] if q.get("quotas") else q
            # --quota-* set the defaults; the uid entry in the file still wins for keys it sets.
            check(e.get("locked_limit") == 4 << 20 and e.get("global_locked_limit") == 24 << 20
                  and e.get("handles_limit") == 9 and e.get("regions_limit") == 7,
                  "command-line options override the file's defaults", q)
            stop(p)
        p, q = start_ok(tmp, "[quota]\nexempt-root = yes\nlocked = 1M\n")
        if p:
            e = q["quotas"][0] if q.get("quotas") else q
            check(e.get("locked_limit") == 0, "exempt-root lifts root's quotas", q)
            stop(p)
        if EXAMPLE:
            p, q = start_ok(tmp, None, path=EXAMPLE)
            if p:
                check(stop(p) == 0, "the shipped example config loads")
    print(f"1..{0}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
