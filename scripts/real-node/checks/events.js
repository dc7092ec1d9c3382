// Event order for a failed (10905) and a successful request, as a subscriber sees it.
// Usage: node events.js http://127.0.0.1:8081 ws://127.0.0.1:5100
const Ain = require('@ainblockchain/ain-js').default;
const [url, ws] = process.argv.slice(2);
const ain = new Ain(url, ws, 0);
ain.wallet.addAndSetDefaultAccount('ab8ccb5edbc6662d7751501b377819fa6bc57ea29135de5f25f27c371d65bc4c');
const t0 = Date.now();
const log = (what, x) => console.log(JSON.stringify({ ms: Date.now() - t0, what, ...x }));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function one(app, label) {
  const id = `${label}-${Date.now()}`;
  const ref = `/apps/${app}/sre/calls/echo/${id}/request`;
  const body = { operation: { type: 'SET_VALUE', ref, value: { input: '{}' } }, nonce: -1, gas_price: 0, timestamp: Date.now() };
  const sig = ain.wallet.signTransaction(body);
  const hash = sig.slice(0, 66); // the signature starts with the tx hash
  ain.em.subscribe('VALUE_CHANGED', { path: `/apps/${app}/sre/calls/echo/$id/request` }, (e) => {
    if (e.params.id === id) log(`${label} VALUE_CHANGED`, { source: e.event_source });
  }, (err) => log('vc error', { err }));
  ain.em.subscribe('TX_STATE_CHANGED', { tx_hash: hash }, (e) => log(`${label} TX_STATE_CHANGED`, e.tx_state),
    (err) => log('tx error', { err }), (del) => log(`${label} FILTER_DELETED`, { reason: del.reason }));
  await sleep(300);
  const res = await ain.sendSignedTransaction(sig, body);
  log(`${label} submit`, { code: res.result.code, same_hash: res.tx_hash === hash });
  await sleep(5000);
}
async function main() {
  await ain.em.connect();
  await one('rn1', 'failed');
  await one('rn3', 'ok');
  ain.em.disconnect();
}
main().then(() => process.exit(0), (e) => { console.error(e.stack || String(e)); process.exit(1); });
