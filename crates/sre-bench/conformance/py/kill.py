# Row 18: signal everything, and the host's processes by pid.
for pid in [ctx['victim'], ctx['daemon']]:
    try:
        os.kill(pid, 9); breaches.append('killed host pid %d' % pid)
    except OSError:
        pass
try:
    os.kill(-1, 9)
except OSError:
    pass
report()
