# Calls an HTTP API with a secret key, through the worker's egress proxy.
#
# Deploy with the API on the allow-list and the key as a secret:
#   ain-sre deploy examples/functions/python3-api --fn quote --allow-net api.example.com:80
#   ain-sre secrets set --fn quote API_KEY=@key.txt
# Input: {"url": "http://api.example.com/quote?sym=AIN"}
#
# The sandbox has no network of its own: urllib reaches the API only through the proxy named in
# http_proxy/https_proxy, which admits the allow-listed destinations alone, and adds
# `Idempotency-Key: <app>/<fn>/<call_id>` to plain-HTTP requests (for HTTPS, pass the
# SRE_IDEMPOTENCY_KEY value yourself, as below). The key arrives as SRE_SECRET_API_KEY and is
# never printed.
import json
import os
import sys
import urllib.request

req = json.loads(sys.stdin.read() or "{}")
url = req["url"]
headers = {"Idempotency-Key": os.environ.get("SRE_IDEMPOTENCY_KEY", "")}
key = os.environ.get("SRE_SECRET_API_KEY")
if key:
    headers["Authorization"] = "Bearer " + key
with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
    body = r.read().decode()
print(json.dumps({"status": r.status, "body": body, "egress": os.environ.get("SRE_EGRESS") == "1"}))
