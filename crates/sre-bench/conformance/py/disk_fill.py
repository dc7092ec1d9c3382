# Row 5: fill the scratch space, exhaust its inodes, write outside it.
n = 0
try:
    with open('/tmp/fill', 'wb') as f:
        while n <= 4 * ctx['tmpfs']:
            f.write(b'a' * 4096); f.flush(); n += 4096
except OSError as e:
    info['fill_errno'] = e.errno
if n > ctx['tmpfs']:
    breaches.append('wrote %d bytes into a %d-byte scratch space' % (n, ctx['tmpfs']))
os.unlink('/tmp/fill')
files = 0
try:
    while files < 1000000:
        open('/tmp/f%d' % files, 'w').close(); files += 1
except OSError as e:
    info['inode_errno'] = e.errno
if files >= 1000000:
    breaches.append('created a million files')
info['bytes'], info['files'] = n, files
for i in range(files):
    os.unlink('/tmp/f%d' % i)
# A huge sparse file: refused (RLIMIT_FSIZE), or allowed but holding no more than the cap.
try:
    with open('/tmp/sparse', 'wb') as f:
        f.seek(50 << 30); f.write(b'x')
    blocks = os.stat('/tmp/sparse').st_blocks * 512
    info['sparse'] = 'created, %d bytes allocated' % blocks
    if blocks > ctx['tmpfs']:
        breaches.append('sparse file allocated %d bytes' % blocks)
except OSError as e:
    info['sparse'] = 'errno %d' % e.errno
for p in ['/x', '/usr/x', '/etc/x', '/sre/../x', '/dev/x']:
    try:
        open(p, 'w').close(); breaches.append('wrote ' + p)
    except OSError:
        pass
report()
