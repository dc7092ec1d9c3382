#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from the shared node capture and the shipped
config files. Run from the repository root: python3 fuzz/seed_corpus.py [path/to/shared/fixtures]"""
import hashlib, json, os, sys

FIX = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("AIN_SRE_SHARED", "../shared"), "fixtures")
OUT = "fuzz/corpus"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


# a. event frames: every distinct frame kind of the capture, and three BLOCK_FINALIZED.
finalized = 0
for line in open(os.path.join(FIX, "ain-1node-events.jsonl"), encoding="utf-8"):
    line = line.rstrip("\n")
    if '"BLOCK_FINALIZED"' in line:
        finalized += 1
        if finalized > 3:
            continue
    put("event_frame", line)

# b. JSON-RPC: every captured request, and sequences whose txs the harness signs.
samples = json.load(open(os.path.join(FIX, "ain-rpc-samples.json"), encoding="utf-8"))
for s in samples.values():
    put("devnet_rpc", compact(s["request"]))
P = {"protoVer": "1.6.0"}


def send(op, nonce=-1, ts=1795461514419, gas_price=0):
    body = {"operation": op, "nonce": nonce, "timestamp": ts, "gas_price": gas_price}
    params = dict(P, tx_body=body, signature="fuzz:sign")
    return compact({"jsonrpc": "2.0", "id": 1, "method": "ain_sendSignedTransaction", "params": params})


def call(method, **params):
    return compact({"jsonrpc": "2.0", "id": 2, "method": method, "params": dict(P, **params)})


V = "0x00ADEc28B6a845a085e03591bE7550dd68673C1C"
app = {"type": "SET_VALUE", "ref": "/manage_app/fz/create/1", "value": {"admin": {V: True}}}
rule = {"type": "SET_RULE", "ref": "/apps/fz/calls/$fn/$id/response",
        "value": {".rule": {"write": "data === null && util.isString(newData.output)"}}}
write = {"type": "SET_VALUE", "ref": "/apps/fz/calls/echo/c1/response", "value": {"output": "x"}}
inc = {"type": "INC_VALUE", "ref": "/apps/fz/count", "value": 2}
oplist = {"type": "SET", "op_list": [write, {"type": "SET_VALUE", "ref": "/apps/fz/misc",
                                             "value": {"f": 1.5, "t": "héllo 🚀", "n": None}}]}
seqs = [
    [send(app), send(rule, ts=1795461514420), send(write, ts=1795461514421),
     call("ain_get", type="GET_VALUE", ref="/apps/fz/calls")],
    [send(app), send(oplist, ts=1795461514422), send(inc, ts=1795461514423),
     call("ain_getLastBlock")],
    [send(app), call("ain_getNonce", address=V, **{"from": "pending"}),
     call("ain_getTransactionByHash", hash="0x" + "00" * 32)],
    [send(write), call("ain_getPendingTransactions")],
]
for seq in seqs:
    put("devnet_rpc", "\0".join(seq))

# c. txs: every captured tx, and the votes of a few blocks; blocks: chain prefixes from genesis.
txs = json.load(open(os.path.join(FIX, "ain-1node-txs.json"), encoding="utf-8"))
for t in txs:
    put("tx_verify", compact({"tx_body": t["tx_body"], "signature": t["signature"],
                              "hash": t["hash"], "address": t["signer"]}))
blocks = json.load(open(os.path.join(FIX, "ain-1node-blocks.json"), encoding="utf-8"))
for b in (blocks[3], blocks[9]):
    for v in b["last_votes"][:2]:
        put("tx_verify", compact(v))
for n in (1, 3, 6, 9):
    put("block_verify", compact(blocks[:n]))
put("block_verify", compact(blocks[14]))

# d. rules: the shapes apps write (see crates/ain-devnet/src/rules/mod.rs for the subset).
for r in ["true", "false", "null", "data === null", "auth.addr === $user",
          "newData === null || util.isString(newData)",
          "getValue('/apps/fz/owners/' + auth.addr) === true && !data",
          "data === null && util.isDict(newData) && util.isString(newData.input)",
          "newData > 0 && newData <= 100 || newData === -1.5e3",
          "util.isCksumAddr(auth.addr) && currentTime >= blockTime - 1000",
          "newData['key'] !== data[$id] && blockNumber > 10",
          "util.isValidHash($h) || util.isHexString('0xab') && util.isInteger(newData.n)",
          "'a\\u00e9\\n' + 1 + true === newData.s", "(auth.fid === undefined) !== false",
          "util.isEmpty(data) && util.isBool(newData) && util.isNumber(1) && util.isValAddr($a)",
          '"x"', "1", "[1]", '{"write": true}']:
    put("rule_parse", r)

# e. config files: even first byte = runtime, odd = profile.
for d, sel in (("runtimes", b"0"), ("sandbox-profiles", b"1")):
    for f in sorted(os.listdir(d)):
        if f.endswith(".toml"):
            put("config_load", sel + open(os.path.join(d, f), "rb").read())
