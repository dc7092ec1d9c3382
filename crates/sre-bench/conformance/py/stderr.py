import sys
sys.stderr.write('e' * 100000 + sys.stdin.read())
