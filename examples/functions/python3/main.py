"""ain-sre example function (python3): reads a JSON object on stdin, greets `name`, prints JSON."""
import json
import sys

try:
    request = json.loads(sys.stdin.read() or "{}")
except json.JSONDecodeError as e:
    print(f"input is not JSON: {e}", file=sys.stderr)
    sys.exit(2)
name = request.get("name", "world") if isinstance(request, dict) else "world"
json.dump({"greeting": f"hello, {name}", "runtime": "python3"}, sys.stdout)
