# Row 1: start sleeping children (and then threads) until refused; the host checks the counts
# stay under the pids limit and that none of the children outlives the call.
import threading, time
mark()
forks = 0
for _ in range(4 * ctx['pids']):
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        forks += 1
    except OSError:
        break
threads = 0
try:
    for _ in range(4 * ctx['pids']):
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        threads += 1
except RuntimeError:
    pass
info['forks'], info['threads'] = forks, threads
report()
os._exit(0)
