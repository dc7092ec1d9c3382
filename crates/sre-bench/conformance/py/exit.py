import sys
sys.stdout.write('exiting')
sys.exit(int(sys.stdin.read()))
