# Row 26: hoard per-user kernel counters - inotify instances and queued real-time signals. With
# `hold` in the context, keep them (the signals blocked, so they stay queued) after mark() tells
# the host we hold them, until the host sends SIGUSR1 or `hold` seconds pass: meanwhile the host
# checks that it, and a second sandbox running this probe without `hold`, can still take their
# own. A watch on a bound runtime file would also see other sandboxes open it (the host's inode).
import signal
fds, err = [], 0
while len(fds) < 100000:
    fd = libc.inotify_init1(0o2000000)  # IN_CLOEXEC
    if fd < 0:
        err = ctypes.get_errno()
        break
    fds.append(fd)
info['inotify'], info['inotify_errno'] = len(fds), err
if fds and libc.inotify_add_watch(fds[0], sys.executable.encode(), 0x20) >= 0:  # IN_OPEN
    breaches.append('inotify watch on a runtime file: opens by other sandboxes are visible')
sig = signal.SIGRTMIN
signal.pthread_sigmask(signal.SIG_BLOCK, {sig, signal.SIGUSR1})
pid, n, err = os.getpid(), 0, 0
while n < 200000:
    if libc.sigqueue(pid, sig, ctypes.c_void_p(0)) != 0:
        err = ctypes.get_errno()
        break
    n += 1
info['signals'], info['signals_errno'] = n, err

def host_uid():
    """The uid the kernel charges this process's counters to: ours, through the user namespace's
    map (identity in a container; the cell's own uid on the process tier)."""
    uid = os.getuid()
    try:
        for line in open('/proc/self/uid_map'):
            inside, outside, count = map(int, line.split())
            if inside <= uid < inside + count:
                return outside + uid - inside
    except (OSError, ValueError):
        pass
    return None

info['uid'] = host_uid()
if ctx.get('hold'):
    mark()
    signal.sigtimedwait({signal.SIGUSR1}, ctx['hold'])
report()
