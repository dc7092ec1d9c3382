// ain-js against the devnet: create an app, set a rule and a value, read it back, receive the
// VALUE_CHANGED event through `ain.em`, and track the value tx to FINALIZED.
// Usage: node ain_js_roundtrip.js <json-rpc url> <event handler url> <private key hex>
// Prints one JSON line with what it saw; exits non-zero on any failure.
'use strict';
const Ain = require('@ainblockchain/ain-js').default;

const [rpcUrl, eventsUrl, sk] = process.argv.slice(2);
const fail = (why) => { console.error(why); process.exit(1); };
const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);

async function main() {
  const providerBase = rpcUrl.replace(/\/json-rpc$/, '');
  const ain = new Ain(providerBase, eventsUrl, 0);
  const addr = ain.wallet.addAndSetDefaultAccount(sk);
  const app = `ainjs_${Date.now()}`;
  const out = { address: addr, app };

  const created = await ain.db.ref(`/manage_app/${app}/create/${Date.now()}`)
    .setValue({ value: { admin: { [addr]: true } }, nonce: -1 });
  out.create_code = created.result.code;
  const rule = await ain.db.ref(`/apps/${app}/data/$key`)
    .setRule({ value: { '.rule': { write: `auth.addr === '${addr}'` } }, nonce: -1 });
  out.rule_code = rule.result.code;

  await withTimeout(ain.em.connect(), 10000, 'em.connect');
  const seen = new Promise((resolve, reject) => {
    ain.em.subscribe('VALUE_CHANGED', { path: `/apps/${app}/data/$key`, event_source: 'USER' },
      (ev) => resolve(ev), (err) => reject(new Error(`subscribe: ${JSON.stringify(err)}`)));
  });
  await new Promise((r) => setTimeout(r, 200));

  // No nonce given: ain-js asks ain_getNonce(pending) and sends a numbered nonce.
  const set = await ain.db.ref(`/apps/${app}/data/k1`).setValue({ value: { hello: 'world' } });
  out.set_code = set.result.code;
  out.tx_hash = set.tx_hash;
  const ev = await withTimeout(seen, 10000, 'VALUE_CHANGED');
  out.event = { params: ev.params, after: ev.values.after,
                source: ev.event_source };
  out.read = await ain.db.ref(`/apps/${app}/data/k1`).getValue();

  const final = await withTimeout(new Promise((resolve, reject) => {
    ain.em.subscribe('TX_STATE_CHANGED', { tx_hash: set.tx_hash }, (e) => {
      if (e.tx_state.after === 'FINALIZED') resolve(e.tx_state);
    }, (err) => reject(new Error(`tx filter: ${JSON.stringify(err)}`)));
  }), 20000, 'FINALIZED');
  out.final_state = final.after;
  out.final_read = await ain.db.ref(`/apps/${app}/data/k1`).getValue('', { is_final: true });
  out.nonce = await ain.db.ref().getValue(`/accounts/${addr}/nonce`);
  ain.em.disconnect();
  console.log(JSON.stringify(out));
  process.exit(0);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
