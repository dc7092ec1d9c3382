# Each call must start fresh: a file in /tmp and a counter in it.
import os
n = int(open('/tmp/count').read()) if os.path.exists('/tmp/count') else 0
open('/tmp/count', 'w').write(str(n + 1))
print(n + 1, end='')
