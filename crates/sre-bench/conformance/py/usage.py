import time
x = b'x' * (24 << 20)
t = time.process_time()
while time.process_time() - t < 0.3:
    pass
print(len(x))
