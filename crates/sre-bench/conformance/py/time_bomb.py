# Row 4: try to outlive the call: a double-forked setsid daemon, a stopped child, a busy orphan.
import signal, time
mark()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.close(1); os.close(2)
        time.sleep(1000)
    os._exit(0)
if os.fork() == 0:
    os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(0)
if os.fork() == 0:
    os.close(1); os.close(2)
    while True:
        pass
time.sleep(0.2)
report()
