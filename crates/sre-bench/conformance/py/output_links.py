# Row 20: leave links, FIFOs and a huge sparse file where outputs might be collected.
import os
for f in [lambda: os.symlink('/etc/shadow', '/tmp/out'), lambda: os.link('/etc/passwd', '/tmp/hard'),
          lambda: os.mkfifo('/tmp/fifo'), lambda: open('/tmp/sparse', 'wb').truncate(1 << 40)]:
    try:
        f()
    except OSError:
        pass
print('only this line', end='')
