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
for p in ['/x', '/usr/x', '/etc/x', '/sre/../x', '/dev/x']:
    try:
        open(p, 'w').close(); breaches.append('wrote ' + p)
    except OSError:
        pass
report()
