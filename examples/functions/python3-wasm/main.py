"""ain-sre example function (python3-wasm): CPython packaged into a WASI component, on the WASM
tier. Reads a JSON object on stdin, greets `name`, prints JSON. Build: ain-sre build
examples/functions/python3-wasm --runtime python3-wasm (needs componentize-py)."""
import json
import sys

try:
    request = json.loads(sys.stdin.read() or "{}")
except json.JSONDecodeError as e:
    print(f"input is not JSON: {e}", file=sys.stderr)
    sys.exit(2)
name = request.get("name", "world") if isinstance(request, dict) else "world"
json.dump({"greeting": f"hello, {name}", "runtime": "python3-wasm"}, sys.stdout)
