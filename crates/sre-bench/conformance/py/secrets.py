# Row 8: host secrets: files, the daemon's memory and environment, sockets, our own environment.
d = ctx['daemon']
for p in ['/etc/shadow', ctx['key'], '/proc/%d/environ' % d, '/proc/%d/mem' % d,
          '/root/.docker/config.json', '/root/.ssh/id_rsa', '/var/run/docker.sock', '/home', '/root']:
    try:
        if os.path.isdir(p):
            os.listdir(p); breaches.append('listed ' + p)
        else:
            open(p, 'rb').read(16); breaches.append('read ' + p)
    except OSError:
        pass
secret = ctx['secret'].encode()
for p in ['/proc/self/environ', '/proc/1/environ', '/proc/1/cmdline']:
    try:
        if secret in open(p, 'rb').read():
            breaches.append('secret in ' + p)
    except OSError:
        pass
for k, v in os.environ.items():
    if ctx['secret'] in v or k in ('HOME', 'AIN_SRE_PRIVATE_KEY'):
        breaches.append('env var ' + k)
if os.environ.get('SSH_AUTH_SOCK'):
    breaches.append('SSH agent socket')
report()
