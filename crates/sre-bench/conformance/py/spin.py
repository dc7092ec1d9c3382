# Row 3: burn CPU in two threads forever.
import threading
def burn():
    while True:
        pass
threading.Thread(target=burn, daemon=True).start()
burn()
