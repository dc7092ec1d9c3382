# Row 26: hoard per-user kernel counters - inotify instances and queued real-time signals - and
# hold them while the host checks it can still take both (mark() tells it we hold them). A watch
# on a bound runtime file would also see other sandboxes open it (it is the host's inode).
import signal, time
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
signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
pid, n, err = os.getpid(), 0, 0
while n < 200000:
    if libc.sigqueue(pid, sig, ctypes.c_void_p(0)) != 0:
        err = ctypes.get_errno()
        break
    n += 1
info['signals'], info['signals_errno'] = n, err
mark()
time.sleep(ctx.get('hold', 2))
report()
