# Unbounded recursion with the interpreter's guard removed: the guest crashes, the host does not.
import sys
sys.setrecursionlimit(1 << 30)
def f(n):
    return f(n + 1) + 1
f(0)
