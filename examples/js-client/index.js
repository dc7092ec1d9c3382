#!/usr/bin/env node
// Calls a function served by an ain-sre worker through @ainblockchain/ain-js, waits for the
// worker's response, verifies it (verify.js: approved writer, request tx, input hash, code hash)
// and prints it with its receipt. Exits 1 when a check fails.
//
//   ain-sre dev                      # in one terminal
//   npm ci && node index.js --app dev --fn echo --input '{"x":1}'
//
// Options: --node URL (default http://127.0.0.1:8081), --app, --fn, --input TEXT|@FILE,
// --timeout SECONDS, --chain-id N (default 0), --blobs URL (default: port 8082 of the node's
// host, the dev chain's blob store), --output FILE (the whole output, from output_ref when it did
// not fit on chain). An input over 4,096 bytes goes to the blob store and the request carries
// input_ref (blobs.js). The request is signed by a fresh throwaway account.
'use strict';

const Ain = require('@ainblockchain/ain-js').default;
const fs = require('fs');
const { beforeRequest, checkResponse } = require('./verify');
const blobs = require('./blobs');

function args(argv) {
  const out = { node: 'http://127.0.0.1:8081', app: 'dev', fn: 'echo', input: '{"hello":"ain-js"}', timeout: 30, chainId: 0, blobs: null, output: null };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    const v = argv[i + 1];
    if (k === 'node') out.node = v.replace(/\/json-rpc\/?$/, '');
    else if (k === 'app') out.app = v;
    else if (k === 'fn') out.fn = v;
    else if (k === 'input') out.input = v;
    else if (k === 'timeout') out.timeout = Number(v);
    else if (k === 'chain-id') out.chainId = Number(v);
    else if (k === 'blobs') out.blobs = v;
    else if (k === 'output') out.output = v;
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
  const input = opt.input.startsWith('@') ? fs.readFileSync(opt.input.slice(1)) : Buffer.from(opt.input, 'utf8');
  let request;
  if (input.length > 4096) {
    const store = opt.blobs || `${new URL(opt.node).protocol}//${new URL(opt.node).hostname}:8082`;
    const ref = await blobs.upload(ain, store, input);
    console.log(`input: ${ref.size} bytes uploaded to ${ref.url} (input_ref)`);
    request = { input_ref: ref };
  } else {
    request = { input: input.toString('utf8') };
  }
  const sent = await ain.db.ref(`${base}/request`).setValue({ value: request, nonce: -1 });
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
      const failed = await checkResponse(ain, response, { ...facts, requestTx: sent.tx_hash, input });
      if (opt.output && failed.length === 0) {
        const ref = response.output_ref;
        if (ref && ref.sha256 !== (response.receipt || {}).output_hash) failed.push('output_ref.sha256 is not receipt.output_hash');
        else if (ref) fs.writeFileSync(opt.output, await blobs.download(ref));
        else if (response.output_truncated) failed.push('the output was truncated on chain and has no output_ref');
        else fs.writeFileSync(opt.output, Buffer.from(response.output || '', response.output_encoding === 'base64' ? 'base64' : 'utf8'));
        if (failed.length === 0) console.log(`output written to ${opt.output} (hash verified)`);
      }
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
