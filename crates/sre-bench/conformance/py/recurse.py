# Unbounded recursion through C code (map) with the interpreter's guard removed: the C stack
# overflows and the guest dies of SIGSEGV; the host does not.
import sys
sys.setrecursionlimit(1 << 30)
def f(x):
    return list(map(f, [x]))
f(0)
