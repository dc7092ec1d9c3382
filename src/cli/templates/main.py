"""ain-sre function (python3): reads a JSON object on stdin, prints a JSON answer on stdout.

Whatever it prints on stdout is the call's output; stderr is kept as a short tail for debugging.
"""
import json
import os
import sys

try:
    request = json.loads(sys.stdin.read() or "{}")
except json.JSONDecodeError as e:
    print(f"input is not JSON: {e}", file=sys.stderr)
    sys.exit(2)
name = request.get("name", "world") if isinstance(request, dict) else "world"
json.dump({"greeting": f"hello, {name}", "function": os.environ.get("SRE_FUNCTION", "")}, sys.stdout)
