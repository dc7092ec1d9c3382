# Row 2: allocate and touch memory until killed.
x = []
while True:
    x.append(b'x' * (1 << 20))
