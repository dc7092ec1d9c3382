# Row 32: egress through the worker's proxy only. The allowed local server answers through the
# proxy; everything else fails: a destination off the list, listed restricted addresses
# (metadata, private) and listed names that resolve to them, direct TCP/UDP to anything (the
# allowed server and the worker's own ports included), DNS (no resolver, no UDP path, port 53
# not proxied, unlisted names never resolved), and the caps cut what exceeds them: bytes,
# connections, and time (a tunnel left open to a silent server ends with the call).
import http.client, os, socket
proxy_port = int(os.environ.get('SRE_EGRESS_PROXY', 'http://127.0.0.1:0').rsplit(':', 1)[1])
info['proxy_env'] = os.environ.get('SRE_EGRESS') == '1' and os.environ.get('http_proxy') == os.environ.get('SRE_EGRESS_PROXY')
if not info['proxy_env']:
    breaches.append('no proxy environment')

def via_proxy(method, target, read=True):
    c = http.client.HTTPConnection('127.0.0.1', proxy_port, timeout=5)
    try:
        c.request(method, target, headers={'Host': 'x'})
        r = c.getresponse()
        try:
            body = r.read() if read else b''
        except http.client.IncompleteRead as e:
            body = e.partial
        return r.status, body
    except Exception as e:
        return type(e).__name__, b''
    finally:
        c.close()

a, b = ctx['allowed'], ctx['other']
status, body = via_proxy('GET', 'http://127.0.0.1:%d/ok' % a)
if status != 200 or b'Idempotency-Key: ' + ctx['key'].encode() not in body:
    breaches.append('the allowed server was not reached through the proxy (%s)' % status)
# A tunnel to a listed server that never answers, left open until the call ends (kept in a
# global: only the call's end may close it).
held = socket.create_connection(('127.0.0.1', proxy_port), timeout=5)
held.sendall(b'CONNECT 127.0.0.1:%d HTTP/1.1\r\n\r\nheld' % ctx['hold'])
info['held'] = held.recv(64).split(b'\r\n')[0].decode()
if not info['held'].startswith('HTTP/1.1 200'):
    breaches.append('the tunnel to the silent server was not opened (%s)' % info['held'])
for target in ['http://127.0.0.1:%d/' % b, 'http://169.254.169.254:80/latest/meta-data/',
               'http://10.0.0.1:80/', 'http://[::1]:%d/' % a, 'http://8.8.8.8:53/']:
    status, _ = via_proxy('GET', target)
    if status != 403:
        breaches.append('the proxy did not refuse %s (%s)' % (target, status))
status, _ = via_proxy('CONNECT', '8.8.8.8:53')
if status != 403:
    breaches.append('CONNECT to a resolver was not refused (%s)' % status)
# Listed names that resolve to loopback (a server answers there), metadata, private; and an
# unlisted name, which the proxy must refuse without resolving it.
for name in ctx['names'] + ['unlisted.invalid:80']:
    status, _ = via_proxy('GET', 'http://%s/' % name)
    if status != 403:
        breaches.append('the proxy did not refuse http://%s/ (%s)' % (name, status))
for fam, addr in [(socket.AF_INET, ('127.0.0.1', a)), (socket.AF_INET, ('127.0.0.1', b)),
                  (socket.AF_INET, ('169.254.169.254', 80)), (socket.AF_INET, ('8.8.8.8', 53)),
                  (socket.AF_INET6, ('::1', a))]:
    if connects(fam, addr):
        breaches.append('direct TCP to %s connected' % (addr,))
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
    s.sendto(b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01', ('8.8.8.8', 53))
    s.recvfrom(512); breaches.append('a UDP DNS query was answered')
except OSError:
    pass
if resolves('example.com'):
    breaches.append('DNS resolved')
# Caps: the download is cut at bytes_in; then the connection cap refuses the next attempts.
status, body = via_proxy('GET', 'http://127.0.0.1:%d/big' % a)
info['big_bytes'] = len(body)
if len(body) >= ctx['big']:
    breaches.append('the %d-byte download passed a smaller bytes_in cap' % len(body))
refused = 0
for _ in range(ctx['connections']):
    status, _ = via_proxy('GET', 'http://127.0.0.1:%d/ok' % a)
    refused += status == 403
if refused == 0:
    breaches.append('the connection cap never refused an attempt')
info['refused_at_cap'] = refused
report()
