# Row 2: a huge mapping never touched, then a tmpfs fill: neither may harm the host.
import mmap
try:
    m = mmap.mmap(-1, 64 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000)
    info['mmap'] = 'mapped'
except (OSError, OverflowError, ValueError) as e:
    info['mmap'] = str(e)
written = 0
try:
    with open('/tmp/fill', 'wb') as f:
        while written < (1 << 30):
            f.write(b'x' * (1 << 20)); f.flush(); written += 1 << 20
except OSError as e:
    info['tmpfs_errno'] = e.errno
if written >= ctx['memory']:
    breaches.append('tmpfs took %d bytes, over the memory limit' % written)
info['tmpfs_written'] = written
report()
