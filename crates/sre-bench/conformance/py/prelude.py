# Prepended to every conformance probe on the process and container tiers. The host passes a JSON
# context on stdin; a probe appends to `breaches` every attack step that succeeded (the check
# fails on any), records observations in `info`, and calls report() last.
import ctypes, json, os, socket, sys
ctx = json.loads(sys.stdin.read() or '{}')
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
breaches, info = [], {}

def sys_(nr, *args):
    """A raw system call: the result, or -errno."""
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return r if r >= 0 else -ctypes.get_errno()

def mark():
    """Names this process (and what it forks) with the run's marker, so the host can find survivors."""
    libc.prctl(15, ctx['marker'].encode(), 0, 0, 0)
    if open('/proc/self/comm').read().strip() != ctx['marker']:
        breaches.append('cannot name processes: survivors would go unseen')

def connects(fam, addr):
    """Whether a TCP connection to `addr` (family `fam`) opens within a second."""
    try:
        s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(1); s.connect(addr); s.close()
        return True
    except OSError:
        return False

def resolves(name):
    """Whether `name` resolves (a probe with no resolver must not)."""
    try:
        socket.getaddrinfo(name, 80)
        return True
    except OSError:
        return False

def report():
    sys.stdout.write(json.dumps({'breaches': breaches, 'info': info}))
    sys.stdout.flush()
