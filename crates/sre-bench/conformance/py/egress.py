# Row 7: every destination must fail: the host's listener, loopback services, LAN, metadata,
# the Internet, IPv6, DNS, the Docker socket.
import socket
dests = [(socket.AF_INET, ('127.0.0.1', ctx['port'])), (socket.AF_INET, ('127.0.0.1', 2375)),
         (socket.AF_INET, ('127.0.0.1', 8081)), (socket.AF_INET, ('10.0.0.1', 80)),
         (socket.AF_INET, ('172.17.0.1', 2375)), (socket.AF_INET, ('169.254.169.254', 80)),
         (socket.AF_INET, ('8.8.8.8', 53)), (socket.AF_INET6, ('::1', ctx['port'])),
         (socket.AF_INET6, ('2001:4860:4860::8888', 53))]
for fam, addr in dests:
    if connects(fam, addr):
        breaches.append('connected to %s' % (addr,))
if resolves('example.com'):
    breaches.append('DNS resolved')
for path in ['/var/run/docker.sock', '/run/docker.sock']:
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(path); breaches.append('connected to ' + path)
    except OSError:
        pass
try:
    info['interfaces'] = [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]]
except OSError:
    info['interfaces'] = 'no /proc/net'
report()
