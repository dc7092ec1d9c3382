# Row 6: stderr then stdout floods, with terminal escapes and no newlines.
import sys
sys.stderr.write('\x1b[2J' + 'e' * 100000)
while True:
    sys.stdout.write('\x1b[2J' + 'x' * 65536)
