# Row 3: two processes burn CPU for a while; together they may use at most ctx['cpus'] CPUs.
import time
start = time.monotonic()
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        t = time.monotonic()
        while time.monotonic() - t < ctx['burn']:
            pass
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.waitpid(k, 0)
wall = time.monotonic() - start
t = os.times()
info['cpu'], info['wall'] = round(t.children_user + t.children_system, 3), round(wall, 3)
if info['cpu'] > wall * ctx['cpus'] + 0.3:
    breaches.append('used %.2f s of CPU in %.2f s: over %s CPU' % (info['cpu'], wall, ctx['cpus']))
report()
