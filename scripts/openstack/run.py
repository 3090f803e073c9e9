#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Run an OpenStack service or tool from its Python entry point.

Debian's python3-<project> packages ship the libraries but not the service
packages' /usr/bin scripts (those come with debconf/postinst logic that wants
to configure and start system services).  openstack-lab.sh therefore runs

    /usr/bin/python3 run.py NAME MODULE:FUNCTION [ARGS...]

NAME becomes argv[0] (oslo.config and oslo.log use it as the program name).

    /usr/bin/python3 run.py NAME MODULE:FUNCTION --step ARGS... [--step ARGS...]

imports MODULE once and runs FUNCTION once per step, each in a forked child
with its own argv (in order, stopping at the first failure).  Several
`nova-manage` steps then cost one import instead of four: on a 2-core machine
the imports are most of the lab's start time.

    /usr/bin/python3 run.py --after FILE REGEX NAME MODULE:FUNCTION [ARGS...]

imports MODULE, then waits (up to 180 s) until a line of FILE matches REGEX
before it calls FUNCTION: nova-compute imports while nova-conductor starts,
and sends its first RPC only once the conductor listens (a message sent
before that is lost and costs a 10 s timeout).

    /usr/bin/python3 run.py --zygote SPEC

starts several services of one project from one import: SPEC has one line
per service, tab-separated: NAME, MODULE:FUNCTION, output file, pid file,
the --after file and regex ("-" for none), then the arguments.  Every module
named is imported first; then each service is forked into a new session
(its pid is its process group), its pid file written, and this process
exits.  Eight Nova services then cost one import instead of eight, and
share the pages of that import.
"""
import importlib
import os
import re
import sys
import time


def wait_for_line(path, pattern, timeout=180):
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                if any(regex.search(line) for line in f):
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    sys.stderr.write("run.py: no line matching %r in %s after %ds, going on\n"
                     % (pattern, path, timeout))


def call(func, argv):
    sys.argv = argv
    rc = func()
    return rc if isinstance(rc, int) else (0 if rc is None else 1)


def zygote(spec_file):
    services = []
    with open(spec_file) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                services.append(line.split("\t"))
    funcs = {}
    for svc in services:
        module, funcname = svc[1].split(":", 1)
        funcs[svc[1]] = getattr(importlib.import_module(module), funcname)
    sys.stdout.flush()
    sys.stderr.flush()
    for name, entry, out, pidfile, after_file, after_re, *args in services:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setsid()
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.close(fd)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.close(null)
                if after_file != "-":
                    wait_for_line(after_file, after_re)
                code = call(funcs[entry], [name] + args)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        with open(pidfile + ".tmp", "w") as f:
            f.write("%d\n" % pid)
        os.rename(pidfile + ".tmp", pidfile)
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        return zygote(sys.argv[2])
    after = None
    if len(sys.argv) > 3 and sys.argv[1] == "--after":
        after = sys.argv[2:4]
        del sys.argv[1:4]
    if len(sys.argv) < 3 or ":" not in sys.argv[2]:
        sys.stderr.write("usage: run.py NAME MODULE:FUNCTION [--step] [ARGS...]\n")
        return 2
    name, entry, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    module, funcname = entry.split(":", 1)
    func = getattr(importlib.import_module(module), funcname)
    if after:
        wait_for_line(*after)
    if not rest or rest[0] != "--step":
        sys.argv = [name] + rest
        return func()

    steps, cur = [], None
    for arg in rest:
        if arg == "--step":
            cur = []
            steps.append(cur)
        else:
            cur.append(arg)
    for step in steps:
        sys.stdout.write("run.py: %s %s\n" % (name, " ".join(step)))
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = call(func, [name] + step)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            sys.stderr.write("run.py: %s %s failed (%d)\n" % (name, " ".join(step), code))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
