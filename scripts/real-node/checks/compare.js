// Same writes against two chains; prints each answer, normalized (hashes, timestamps), one JSON per line.
// Usage: NODE_PATH=... node compare.js http://127.0.0.1:8081
const Ain = require('@ainblockchain/ain-js').default;
const url = process.argv[2];
const K1 = '921cc48e48c876fc6ed1eb02a76ad520e8d16a91487f9c7e03441da8e35a0947'; // app admin
const K5 = 'ff8ccb5edbc6662d7751501b377819fa6bc57ea29135de5f25f27c371d65bc4c'.replace('ff8c', 'aa8c'); // a fresh key
const ain = new Ain(url, null, 0);
const me = ain.wallet.addAndSetDefaultAccount(K5);
const admin = ain.wallet.add(K1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const normS = (s) => s.replace(/0x[0-9a-fA-F]{64}/g, '0xHASH').replace(/0x[0-9a-fA-F]{40}/g, '0xADDR')
  .replace(/1[0-9]{12}/g, 'TS').replace(/(cmp2|cmp|gone)-[0-9a-z]+/g, '$1-ID');
const norm = (v) => {
  if (typeof v === 'string') return normS(v);
  if (typeof v === 'number') return (v > 1e12 && v < 2e12) ? 'TS' : v;
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') { const o = {}; for (const [k, x] of Object.entries(v)) o[normS(k)] = norm(x); return o; }
  return v;
};
const out = (step, v) => console.log(JSON.stringify({ step, v: norm(v) }));
const rpc = (m, p) => ain.provider.send(m, p);
async function main() {
  const id = Date.now().toString(36);
  const r1 = await ain.db.ref(`/apps/rn1/sre/calls/echo/cmp-${id}/request`).setValue({ value: { input: '{}' }, nonce: -1 });
  out('1 request to a full free tier', r1);
  const r2 = await ain.db.ref(`/apps/rn2/sre/workers/${me}`).setValue({ value: { version: 'x' }, nonce: -1 });
  out('2 unapproved self-registration', r2);
  const r3 = await ain.db.ref('/').set({ op_list: [
    { type: 'SET_VALUE', ref: `/apps/rn3/sre/calls/echo/cmp-${id}/request`, value: { input: '{}' } },
    { type: 'SET_VALUE', ref: `/apps/rn3/sre/functions/echo/code_hash`, value: 'x' }], nonce: -1 });
  out('3 SET: request ok, then a refused op', r3);
  const r4 = await ain.db.ref(`/apps/rn3/sre/calls/echo/gone-${id}/response`).setValue({ value: { status: 'ok', receipt: { worker: me } }, nonce: -1 });
  out('4 orphan response', r4);
  const r5 = await ain.db.ref(`/apps/rn3/sre/calls/echo/cmp2-${id}/request`).setValue({ value: { input: '{}' }, nonce: -1 });
  out('5 plain request', r5);
  const bad = await ain.db.ref('/apps/rn3/sre/calls/echo/$call_id').setRule({ value: { '.rule': { state: { gc_max_siblings: 20, gc_num_siblings_deleted: 5 } } }, nonce: -1, address: admin });
  out('6 gc rule with a batch below the minimum (admin)', bad);
  const bad2 = await ain.db.ref('/apps/rn3/sre/calls/echo/$call_id').setRule({ value: { '.rule': { state: { gc_max_siblings: 20 } } }, nonce: -1, address: admin });
  out('7 gc rule without gc_num_siblings_deleted (admin)', bad2);
  out('8 getTransactionByHash right after submit (failed request)', await rpc('ain_getTransactionByHash', { hash: r1.tx_hash }));
  out('8b getTransactionByHash right after submit (ok request)', await rpc('ain_getTransactionByHash', { hash: r5.tx_hash }));
  await sleep(5000);
  for (const [n, r] of [['1', r1], ['3', r3], ['4', r4], ['5', r5]]) {
    const t = await rpc('ain_getTransactionByHash', { hash: r.tx_hash });
    if (t) { delete t.transaction; }
    out(`9.${n} getTransactionByHash after finality`, t);
  }
  out('10 getTransactionByHash unknown', await rpc('ain_getTransactionByHash', { hash: '0x' + '12'.repeat(32) }));
  out('11 getStateUsage unknown app', await rpc('ain_getStateUsage', { app_name: 'nosuchapp' }));
  out('12 getStateUsage no app_name', await rpc('ain_getStateUsage', {}));
  out('13 state of the failed SET request', await ain.db.ref(`/apps/rn3/sre/calls/echo/cmp-${id}`).getValue());
}
main().then(() => process.exit(0), (e) => { console.error(e.stack || String(e)); process.exit(1); });
