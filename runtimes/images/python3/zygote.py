"""ain-sre stem cell for CPython, pre-started: the interpreter is already up when the call arrives.

stem.sh hands over to this file (in images that carry it) before reading anything, with the same
arguments: argv[1] = where the code goes, argv[2:] = the runtime's command. It speaks stem.sh's
protocol exactly: read the header, the SRE_* lines and the code from fd 0 (never more), fork, and
in the child run the code as __main__ with only the input left on stdin and an environment of just
the SRE_* names; the parent (pid 1) waits, then writes the nonce on stdout and the usage line on
stderr, and exits with the guest's status. Only interpreter start-up is saved: the guest still
gets a fresh process in a fresh container, used once.
"""
import os
import sys


def _line():
    b = bytearray()
    while True:
        c = os.read(0, 1)
        if not c:
            os._exit(120)
        if c == b"\n":
            return bytes(b)
        b += c


def _exactly(n):
    parts = []
    while n > 0:
        c = os.read(0, min(n, 1 << 16))
        if not c:
            os._exit(123)
        parts.append(c)
        n -= len(c)
    return b"".join(parts)


def _first(path, key=None):
    try:
        with open(path, "rb") as f:
            for line in f:
                w = line.split()
                if key is None:
                    return int(w[0])
                if len(w) == 2 and w[0] == key:
                    return int(w[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _usage():
    cpu = _first("/sys/fs/cgroup/cpuacct/cpuacct.usage")
    if cpu is None:
        cpu = _first("/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage")
    if cpu is None:
        us = _first("/sys/fs/cgroup/cpu.stat", b"usage_usec")
        cpu = us * 1000 if us is not None else 0
    mem = _first("/sys/fs/cgroup/memory/memory.max_usage_in_bytes")
    if mem is None:
        mem = _first("/sys/fs/cgroup/memory.peak") or 0
    oom = _first("/sys/fs/cgroup/memory/memory.oom_control", b"oom_kill")
    if oom is None:
        oom = _first("/sys/fs/cgroup/memory.events", b"oom_kill") or 0
    return cpu, mem, oom


def main():
    src = sys.argv[1]
    head = _line().split(b" ")
    if len(head) != 5 or head[0] != b"SRE1":
        os._exit(121)
    nonce = head[1]
    nenv, clen, _ilen = (int(x) for x in head[2:])
    env = {}
    for _ in range(nenv):
        k, sep, v = _line().partition(b"=")
        if sep and k.startswith(b"SRE_") and k.replace(b"_", b"").isalnum():
            env[k] = v
    with open(src, "wb") as f:
        f.write(_exactly(clen))
    pid = os.fork()
    if pid == 0:
        # The guest must not find the nonce in its own memory (it would forge the usage line).
        del head, nonce
        os.environ.clear()
        for k, v in env.items():
            os.environb[k] = v
        sys.argv = [src]
        import runpy

        runpy.run_path(src, run_name="__main__")
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    if rc < 0:
        rc = 128 - rc
    os.write(1, nonce)
    cpu, mem, oom = _usage()
    os.write(2, b"\n%s %d %d %d %d\n" % (nonce, rc, cpu, mem, oom))
    os._exit(rc)


main()
