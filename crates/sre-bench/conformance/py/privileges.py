# Row 13: no capabilities, no_new_privs, and no way to become root.
st = dict(l.split(':\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\t' in l)
for k in ['CapEff', 'CapPrm', 'CapAmb']:
    if int(st[k].strip(), 16) != 0:
        breaches.append('%s %s' % (k, st[k].strip()))
info['uid'], info['no_new_privs'] = os.getuid(), st['NoNewPrivs'].strip()
if os.getuid() == 0 or os.geteuid() == 0:
    breaches.append('runs as root')
for name, f in [('setuid(0)', lambda: os.setuid(0)), ('setgid(0)', lambda: os.setgid(0)),
                ('setresuid(0)', lambda: os.setresuid(0, 0, 0))]:
    try:
        f(); breaches.append(name)
    except OSError:
        pass
# A setuid-root binary must give nothing: either there is none, or no_new_privs/nosuid neuters it.
import stat, subprocess
for p in ['/usr/bin/su', '/bin/su', '/usr/bin/passwd', '/bin/ping', '/usr/bin/sudo']:
    try:
        s = os.stat(p)
    except OSError:
        continue
    if s.st_mode & stat.S_ISUID and st['NoNewPrivs'].strip() != '1':
        breaches.append('setuid binary %s usable' % p)
report()
