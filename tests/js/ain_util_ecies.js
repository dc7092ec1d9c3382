#!/usr/bin/env node
// ECIES oracle for tests/ain_util_ecies.rs: ain-util's decryptWithPrivateKey opens what Rust
// encrypted, and encryptWithPublicKey encrypts for Rust to open. Forwards only; computes nothing.
//
// Usage: node ain_util_ecies.js < JOB.json > OUT.json
//   JOB: {"cases": [{"key": hex32, "rust": {iv, ephemPublicKey, ciphertext, mac}, "plain": str}]}
//   OUT: {"cases": [{"decrypted": str|null, "error": str|null, "encrypted": {...}}]}
'use strict';

for (const k of ['log', 'info', 'warn', 'debug']) console[k] = (...a) => console.error(...a);
const ainUtil = require('@ainblockchain/ain-util');

(async () => {
  const job = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const out = [];
  for (const c of job.cases) {
    const r = { decrypted: null, error: null, encrypted: null };
    try {
      r.decrypted = await ainUtil.decryptWithPrivateKey(c.key, c.rust);
    } catch (e) {
      r.error = String(e && e.message || e);
    }
    const pub = ainUtil.privateToPublic(Buffer.from(c.key, 'hex')).toString('hex');
    r.encrypted = await ainUtil.encryptWithPublicKey(pub, c.plain);
    out.push(r);
  }
  process.stdout.write(JSON.stringify({ cases: out }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
