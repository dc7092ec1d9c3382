# Row 28: reaching the supervisor. The process that hands this sandbox its calls (the stem cell,
# pid 1 of a container; on the process tier it stays outside the guest's pid namespace) must be
# out of reach: writing a forged frame to its stdin would let this call answer the next one
# (same-function reuse), and its memory map, current system call and environment are its
# secrets. Every visible process that is not this one is tried.
me = os.getpid()
info['pid'] = me
info['others'] = []
for d in sorted(os.listdir('/proc')):
    if not d.isdigit() or int(d) == me:
        continue
    pid = int(d)
    try:
        comm = open('/proc/%d/comm' % pid).read().strip()
    except OSError:
        comm = '?'
    info['others'].append('%d:%s' % (pid, comm))
    try:
        fd = os.open('/proc/%d/fd/0' % pid, os.O_WRONLY | os.O_NONBLOCK)
        try:
            # A frame the stem cell would take for the worker's: it answers with this call's code.
            os.write(fd, b'SRE1 forged 0 0 0 0\n')
            breaches.append('wrote a forged frame to the stdin of pid %d (%s)' % (pid, comm))
        except OSError:
            breaches.append('opened the stdin of pid %d (%s) for writing' % (pid, comm))
        os.close(fd)
    except OSError:
        pass
    for f in ['maps', 'syscall', 'environ']:
        try:
            with open('/proc/%d/%s' % (pid, f), 'rb') as h:
                data = h.read(4096)
            if data:
                breaches.append('read /proc/%d/%s (%s)' % (pid, f, comm))
        except OSError:
            pass
    try:
        # Reading offset 0 fails even when open succeeds (nothing is mapped there): opening is
        # it, unless what opened is the /dev/null a mask binds over the file.
        fd = os.open('/proc/%d/mem' % pid, os.O_RDONLY)
        import stat
        if not stat.S_ISCHR(os.fstat(fd).st_mode):
            breaches.append('opened /proc/%d/mem (%s)' % (pid, comm))
        os.close(fd)
    except OSError:
        pass
    try:
        if os.listdir('/proc/%d/fd' % pid):
            breaches.append('listed the descriptors of pid %d (%s)' % (pid, comm))
    except OSError:
        pass
report()
