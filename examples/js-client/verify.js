// What a client checks before it believes an ain-sre response: the same checks as
// `ain-sre call --wait` (Rust: `ain_sre::verify::check_response`). Reusable from any ain-js
// client:
//
//   const { beforeRequest, checkResponse } = require('./verify');
//   const facts = await beforeRequest(ain, app, fn);           // just before sending
//   const sent = await ain.db.ref(requestPath).setValue(...);  // keep sent.tx_hash
//   ...read the response...
//   const failed = await checkResponse(ain, response, { ...facts, requestTx: sent.tx_hash, input });
//   if (failed.length) { /* do not trust it */ }
//
// The chain (the rules `ain-sre deploy` writes) already refuses a response from a worker the app
// admin did not approve, a second response, one for a missing request and one whose
// `receipt.worker` is not its signer. The client adds what only it knows: the request tx it
// signed, the input it sent, and the function's code hash when it sent it.
'use strict';

const crypto = require('crypto');

/** Reads what must be known before the request: the function's code hash (null: no function). */
async function beforeRequest(ain, app, fn) {
  const codeHash = await ain.db.ref(`/apps/${app}/sre/functions/${fn}/code_hash`).getValue();
  return { app, codeHash: typeof codeHash === 'string' ? codeHash : null };
}

/** The app's worker setting: who may answer (approved; in an open app, registered). */
async function fetchWorkers(ain, app) {
  const root = `/apps/${app}/sre`;
  const [policy, approved, registered] = await Promise.all([
    ain.db.ref(`${root}/config/workers`).getValue(),
    ain.db.ref(`${root}/allowed_workers`).getValue(),
    ain.db.ref(`${root}/workers`).getValue(),
  ]);
  const keys = (o, pred) => new Set(Object.entries(o || {}).filter(([, v]) => pred(v)).map(([k]) => k.toLowerCase()));
  return {
    open: policy === 'any',
    approved: keys(approved, (v) => v === true),
    registered: keys(registered, (v) => v !== null),
  };
}

/** Pure check: returns the list of failed checks (empty when the response is what was asked). */
function checkAgainst(response, expected, workers) {
  const r = (response && response.receipt) || {};
  const failed = [];
  const str = (name) => {
    if (typeof r[name] === 'string') return r[name];
    failed.push(`the response has no receipt field \`${name}\``);
    return null;
  };
  const worker = str('worker');
  if (worker !== null) {
    const w = worker.toLowerCase();
    if (!(workers.approved.has(w) || (workers.open && workers.registered.has(w)))) {
      failed.push(`writer ${worker} is not an approved worker of the app`);
    }
  }
  const tx = str('request_tx');
  if (tx !== null && tx.toLowerCase() !== String(expected.requestTx).toLowerCase()) {
    failed.push(`receipt.request_tx is ${tx}, the request tx is ${expected.requestTx}`);
  }
  const sent = Buffer.isBuffer(expected.input) ? expected.input : Buffer.from(expected.input, 'utf8');
  const inputHash = crypto.createHash('sha256').update(sent).digest('hex');
  const got = str('input_hash');
  if (got !== null && got !== inputHash) {
    failed.push(`receipt.input_hash is ${got}, the input sent hashes to ${inputHash}`);
  }
  const code = str('code_hash');
  const wantCode = expected.codeHash || '';
  if (code !== null && code !== wantCode) {
    failed.push(`receipt.code_hash is "${code}", the function's code hash at the request was "${wantCode}"`);
  }
  if (expected.codeHash === null && response.status !== 'rejected') {
    failed.push(`status "${response.status}" for a function that was not deployed at the request (only \`rejected\` fits)`);
  }
  return failed;
}

/** Reads the app's workers now and checks `response`; `expected` = {app, codeHash, requestTx, input}. */
async function checkResponse(ain, response, expected) {
  return checkAgainst(response, expected, await fetchWorkers(ain, expected.app));
}

module.exports = { beforeRequest, fetchWorkers, checkAgainst, checkResponse };
