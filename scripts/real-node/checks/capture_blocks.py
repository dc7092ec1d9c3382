#!/usr/bin/env python3
"""Save every finalized block's full JSON (getFullTransactions true) to DIR/<n>.json while the node
answers (AIN_NODE = the node's base URL, default http://127.0.0.1:8081). Run it across a node
restart (once before, once after) to catch a re-finalized block.
Usage: capture.py DIR SECONDS [FROM]"""
import json, sys, time, urllib.request, os
d, secs = sys.argv[1], float(sys.argv[2])
frm = int(sys.argv[3]) if len(sys.argv) > 3 else None
os.makedirs(d, exist_ok=True)
def rpc(m, p):
    p = dict(p, protoVer="1.6.0")
    req = urllib.request.Request(os.environ.get("AIN_NODE", "http://127.0.0.1:8081") + "/json-rpc", json.dumps({"jsonrpc":"2.0","id":1,"method":m,"params":p}).encode(), {"content-type":"application/json"})
    return json.load(urllib.request.urlopen(req, timeout=2))["result"]["result"]
end = time.time() + secs
nxt = frm
while time.time() < end:
    try:
        last = rpc("ain_getLastBlockNumber", {})
        if nxt is None: nxt = max(0, last - 5)
        while nxt <= last:
            b = rpc("ain_getBlockByNumber", {"number": nxt, "getFullTransactions": True})
            with open(f"{d}/{nxt}.json", "w") as f: json.dump(b, f, sort_keys=True)
            print(nxt, b["hash"], flush=True)
            nxt += 1
    except Exception as e:
        pass
    time.sleep(0.1)
