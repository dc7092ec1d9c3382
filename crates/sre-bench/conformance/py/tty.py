# Row 17: TIOCSTI on every standard stream, and no controlling terminal.
import fcntl
for fd in (0, 1, 2):
    try:
        fcntl.ioctl(fd, 0x5412, b'x'); breaches.append('TIOCSTI on fd %d' % fd)
    except OSError as e:
        info['fd%d' % fd] = e.errno
try:
    os.open('/dev/tty', os.O_RDWR); breaches.append('opened /dev/tty')
except OSError:
    pass
report()
