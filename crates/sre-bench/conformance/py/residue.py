# Row 19: plant state everywhere a tenant can (phase 'plant'), then look for it ('check').
import glob, socket
if ctx['phase'] == 'plant':
    mark()
    for p in ['/tmp/residue', '/dev/shm/residue']:
        try:
            open(p, 'w').write('x')
        except OSError:
            pass
    s = socket.socket(socket.AF_UNIX); s.bind('\0ain-residue'); s.listen()
    info['shm'] = libc.shmget(0x5eed, 4096, 0o1000 | 0o600) >= 0
    if os.fork() == 0:
        import time; time.sleep(30)
else:
    found = glob.glob('/tmp/*') + glob.glob('/dev/shm/*')
    if found:
        breaches.append('files left: %s' % found)
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind('\0ain-residue')
    except OSError:
        breaches.append('abstract socket still bound')
    if libc.shmget(0x5eed, 4096, 0o600) >= 0:
        breaches.append('SysV shared memory left')
report()
