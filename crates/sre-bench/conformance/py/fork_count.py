# Row 1: start sleeping children (mode 'fork') or threads (mode 'thread') until refused; the host
# checks the count stays under the pids limit and that no child outlives the call.
import threading, time
mark()
n = 0
try:
    for _ in range(4 * ctx['pids']):
        if ctx['mode'] == 'fork':
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
        else:
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        n += 1
except (OSError, RuntimeError) as e:
    info['refused'] = str(e)
info['started'] = n
report()
os._exit(0)
