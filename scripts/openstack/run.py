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
"""
import importlib
import os
import sys


def call(func, argv):
    sys.argv = argv
    rc = func()
    return rc if isinstance(rc, int) else (0 if rc is None else 1)


def main():
    if len(sys.argv) < 3 or ":" not in sys.argv[2]:
        sys.stderr.write("usage: run.py NAME MODULE:FUNCTION [--step] [ARGS...]\n")
        return 2
    name, entry, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    module, funcname = entry.split(":", 1)
    func = getattr(importlib.import_module(module), funcname)
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
