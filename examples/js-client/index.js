#!/usr/bin/env node
// Calls a function served by an ain-sre worker through @ainblockchain/ain-js, waits for the
// worker's response, verifies it (verify.js: approved writer, request tx, input hash, code hash)
// and prints it with its receipt. Exits 1 when a check fails.
//
//   ain-sre dev                      # in one terminal
//   npm ci && node index.js --app dev --fn echo --input '{"x":1}'
//
// Options: --node URL (default http://127.0.0.1:8081), --app, --fn, --input, --timeout SECONDS,
// --chain-id N (default 0). The request is signed by a fresh throwaway account.
'use strict';

const Ain = require('@ainblockchain/ain-js').default;
const { beforeRequest, checkResponse } = require('./verify');

function args(argv) {
  const out = { node: 'http://127.0.0.1:8081', app: 'dev', fn: 'echo', input: '{"hello":"ain-js"}', timeout: 30, chainId: 0 };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    const v = argv[i + 1];
    if (k === 'node') out.node = v.replace(/\/json-rpc\/?$/, '');
    else if (k === 'app') out.app = v;
    else if (k === 'fn') out.fn = v;
    else if (k === 'input') out.input = v;
    else if (k === 'timeout') out.timeout = Number(v);
    else if (k === 'chain-id') out.chainId = Number(v);
    else if (k === 'events') { /* accepted for symmetry with `ain-sre dev`'s hint; not needed */ }
    else throw new Error(`unknown option --${k}`);
  }
  return out;
}

async function main() {
  const opt = args(process.argv);
  const ain = new Ain(opt.node, null, opt.chainId);
  const address = ain.wallet.create(1)[0];
  ain.wallet.setDefaultAccount(address);

  // A fresh call id: labels may not contain / . $ * # { } [ ] < > ' " `
  const callId = `${Date.now()}-${Math.random().toString(16).slice(2, 10)}`;
  const base = `/apps/${opt.app}/sre/calls/${opt.fn}/${callId}`;
  const facts = await beforeRequest(ain, opt.app, opt.fn);
  const sent = await ain.db.ref(`${base}/request`).setValue({ value: { input: opt.input }, nonce: -1 });
  const ok = sent && sent.result && sent.result.code === 0;
  if (!ok) {
    console.error('request refused:', JSON.stringify(sent));
    process.exit(1);
  }
  console.log(`call ${opt.app}/${opt.fn}/${callId}: request tx ${sent.tx_hash} from ${address}`);

  const deadline = Date.now() + opt.timeout * 1000;
  for (;;) {
    const response = await ain.db.ref(`${base}/response`).getValue();
    if (response) {
      console.log(JSON.stringify(response, null, 2));
      const failed = await checkResponse(ain, response, { ...facts, requestTx: sent.tx_hash, input: opt.input });
      if (failed.length === 0) {
        console.log(`status ${response.status}; verified: approved writer, request tx, input hash, code hash`);
      } else {
        console.log(`status ${response.status}; VERIFICATION FAILED, do not trust this response:`);
        for (const f of failed) console.log(`  - ${f}`);
      }
      process.exit(response.status === 'ok' && failed.length === 0 ? 0 : 1);
    }
    if (Date.now() > deadline) {
      console.error(`no response within ${opt.timeout} s`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
