// ain-js against the built-in chain: the real AI Network client, unchanged, must be able to
// create an app, set a rule and a value, read it back, receive VALUE_CHANGED through ain.em,
// and track a transaction to FINALIZED. Prints one JSON line per step; exits non-zero on failure.
//
// Usage: node ain_js_devnet.js <json-rpc origin> <event handler ws url> <hex private key>

const Ain = require('@ainblockchain/ain-js').default;

const [providerUrl, eventsUrl, privateKey] = process.argv.slice(2);
const step = (name, detail) => console.log(JSON.stringify({ step: name, ...detail }));
const fail = (msg) => { console.error(`FAIL: ${msg}`); process.exit(1); };
const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)),
]);
const ok = (res) => res && res.result && res.result.code === 0;

async function main() {
  const ain = new Ain(providerUrl, eventsUrl, 0);
  const address = ain.wallet.addAndSetDefaultAccount(privateKey);
  const app = `ainjs_${Date.now()}`;
  step('account', { address });

  const create = await ain.db.ref(`/manage_app/${app}/create/${Date.now()}`)
    .setValue({ value: { admin: { [address]: true } }, nonce: -1 });
  if (!ok(create)) fail(`create app: ${JSON.stringify(create)}`);
  step('create_app', { tx_hash: create.tx_hash });

  const rule = await ain.db.ref(`/apps/${app}/public/$key`)
    .setRule({ value: { '.rule': { write: `auth.addr === '${address}' && util.isString(newData)` } }, nonce: -1 });
  if (!ok(rule)) fail(`set rule: ${JSON.stringify(rule)}`);
  step('set_rule', { tx_hash: rule.tx_hash });

  const set = await ain.db.ref(`/apps/${app}/public/greeting`).setValue({ value: 'hello from ain-js', nonce: -1 });
  if (!ok(set)) fail(`set value: ${JSON.stringify(set)}`);
  const read = await ain.db.ref(`/apps/${app}/public/greeting`).getValue();
  if (read !== 'hello from ain-js') fail(`read back ${JSON.stringify(read)}`);
  step('read_back', { value: read });

  // The rule refuses a non-string: the chain itself says no.
  const refused = await ain.db.ref(`/apps/${app}/public/number`).setValue({ value: 42, nonce: -1 });
  if (ok(refused) || refused.result.code !== 12103) fail(`rule should refuse: ${JSON.stringify(refused)}`);
  step('rule_refuses', { code: refused.result.code });

  await withTimeout(ain.em.connect(), 5000, 'ain.em.connect');
  const changed = new Promise((resolve, reject) => {
    ain.em.subscribe('VALUE_CHANGED', { path: `/apps/${app}/public/$key`, event_source: 'USER' },
      (event) => resolve(event), (err) => reject(new Error(`subscribe: ${JSON.stringify(err)}`)));
  });
  await new Promise((r) => setTimeout(r, 300)); // registration has no acknowledgement
  const second = await ain.db.ref(`/apps/${app}/public/event`).setValue({ value: 'fires an event', nonce: -1 });
  if (!ok(second)) fail(`second write: ${JSON.stringify(second)}`);
  const event = await withTimeout(changed, 5000, 'VALUE_CHANGED');
  if (event.params.key !== 'event' || event.values.after !== 'fires an event') fail(`event ${JSON.stringify(event)}`);
  step('value_changed', { matched_path: event.matched_path, params: event.params, event_source: event.event_source });

  const finalized = new Promise((resolve, reject) => {
    ain.em.subscribe('TX_STATE_CHANGED', { tx_hash: second.tx_hash }, (ev) => {
      if (ev.tx_state.after === 'FINALIZED') resolve(ev);
    }, (err) => reject(new Error(`tx subscribe: ${JSON.stringify(err)}`)));
  });
  const fin = await withTimeout(finalized, 10000, 'FINALIZED');
  step('finalized', { tx_hash: second.tx_hash, state: fin.tx_state.after });
  const info = await ain.getTransactionByHash(second.tx_hash);
  if (!info || info.state !== 'FINALIZED') fail(`getTransactionByHash ${JSON.stringify(info)}`);
  step('get_transaction', { state: info.state, number: info.number });

  ain.em.disconnect();
  step('done', {});
}

main().then(() => process.exit(0), (e) => fail(e.stack || String(e)));
