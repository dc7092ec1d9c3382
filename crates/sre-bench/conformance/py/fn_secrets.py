# Row 34: another function's secrets. Phase `hold` is function A: it has SRE_SECRET_API_KEY,
# leaves copies where a careless function would (/tmp, /dev/shm, its argv), and stays alive
# while function B runs. Phase `peek` is function B: it looks for A's value in its own
# environment, in every process it can see (environ, cmdline), and in every file it can read
# under /tmp, /dev/shm, /run, /var/tmp.
import glob, time
secret = ctx['fn_secret']
if ctx['phase'] == 'hold':
    mark()
    info['has_secret'] = os.environ.get('SRE_SECRET_API_KEY') == secret
    for d in ['/tmp', '/dev/shm']:
        try:
            open(d + '/api_key', 'w').write(secret)
        except OSError:
            pass
    sys.argv.append(secret)
    time.sleep(ctx['hold_s'])
    report()
    sys.exit(0)
found = []
for k, v in os.environ.items():
    if secret in v:
        found.append('env ' + k)
seen = 0
for p in glob.glob('/proc/[0-9]*'):
    seen += 1
    for f in ['environ', 'cmdline']:
        try:
            if secret.encode() in open(p + '/' + f, 'rb').read():
                found.append(p + '/' + f)
        except OSError:
            pass
for root in ['/tmp', '/dev/shm', '/run', '/var/tmp']:
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                if secret.encode() in open(path, 'rb').read(1 << 20):
                    found.append(path)
            except OSError:
                pass
breaches.extend('A\'s secret in ' + f for f in found)
info['processes_seen'] = seen
report()
