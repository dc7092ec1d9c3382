#!/usr/bin/env node
// Reference oracle for tests/ain_util_compat.rs: answers a job with what the real
// @ainblockchain/ain-util (pinned in package-lock.json) computes, so the Rust test can compare.
//
// Usage: node ain_util_oracle.js JOB.json|- [OUT.json|-]
//   Reads the job (a file, or stdin for "-") and writes the result (a file, or stdout).
//
// Every item is answered independently: an exception becomes {"error": "..."} on that item and
// never aborts the run, so one odd input cannot hide the results for the others. This script only
// forwards inputs to ain-util and reports its outputs; it computes nothing of its own, because any
// logic here would be a third implementation that could be wrong in its own way.
'use strict';

const fs = require('fs');
const path = require('path');

// eccrypto (an ain-util dependency) prints "secp256k1 unavailable..." with console.info when it
// loads. Send all console chatter to stderr so stdout carries only the JSON result.
for (const k of ['log', 'info', 'warn', 'debug']) console[k] = (...a) => console.error(...a);

const UTIL_MAIN = require.resolve('@ainblockchain/ain-util');
const UTIL_DIR = path.dirname(UTIL_MAIN);
// Resolve ain-util's own dependencies from its directory: these are the copies it really calls.
const depPath = (name) => require.resolve(name, { paths: [UTIL_DIR] });
const util = require(UTIL_MAIN);
const stringify = require(depPath('fast-json-stable-stringify'));

function packageVersion(mainFile) {
  let dir = path.dirname(mainFile);
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
}

// secp256k1@3 and keccak@2 fall back to pure JS when their native addons were not built (as with
// `npm ci --ignore-scripts`, or on Node versions they no longer compile for). Report which one
// ran; both back-ends are meant to produce identical bytes.
function backend(name) {
  const main = depPath(name);
  try {
    return require(main) === require(path.join(path.dirname(main), 'bindings')) ? 'native' : 'js';
  } catch (_) {
    return 'js';
  }
}

// ain-util 1.3.0 does `const pbkdf2Sync = require('pbkdf2')`, but that package exports an object
// `{ pbkdf2, pbkdf2Sync }`, so every PBKDF2 keystore operation throws "pbkdf2Sync is not a
// function". The genuine module is what the test records. To still check that the Rust PBKDF2
// format matches what ain-util's code would produce once that import is fixed, a second instance
// of ain-util is loaded here with only that one import made callable. Nothing else differs.
let fixedUtil = null;
function utilWithPbkdf2ImportFixed() {
  if (fixedUtil) return fixedUtil;
  const pbPath = depPath('pbkdf2');
  const pbModule = require.cache[pbPath] || (require(pbPath), require.cache[pbPath]);
  const real = pbModule.exports;
  const callable = Object.assign((...args) => real.pbkdf2Sync(...args), real);
  const savedUtil = require.cache[UTIL_MAIN];
  delete require.cache[UTIL_MAIN];
  pbModule.exports = callable;
  try {
    fixedUtil = require(UTIL_MAIN);
  } finally {
    pbModule.exports = real;
    require.cache[UTIL_MAIN] = savedUtil;
  }
  return fixedUtil;
}

function pick(impl) {
  if (impl === undefined || impl === 'genuine') return util;
  if (impl === 'pbkdf2_import_fixed') return utilWithPbkdf2ImportFixed();
  throw new Error(`unknown impl ${impl}`);
}

const errText = (e) => (e && e.message) || String(e);

function attempt(f) {
  try {
    return f();
  } catch (e) {
    return { error: errText(e) };
  }
}

const keyBuf = (hex) => Buffer.from(hex.replace(/^0x/, ''), 'hex');

// The checksummed address recovered from a `0x ‖ hash ‖ r ‖ s ‖ v` signature, via ecRecoverPub.
function recoverAddress(sig, chainId) {
  const buf = util.toBuffer(sig);
  const hash = buf.slice(0, buf.length - 65);
  const parts = util.ecSplitSig(buf.slice(buf.length - 65));
  const pub = util.ecRecoverPub(hash, parts.r, parts.s, parts.v, chainId);
  return util.toChecksumAddress(util.bufferToHex(util.pubToAddress(pub.slice(1))));
}

// ecVerifySig on `data` for each chain id; when it says no, also report what it recovered.
function verifyAll(data, sigs, address) {
  const out = {};
  for (const [chain, sig] of Object.entries(sigs || {})) {
    const chainId = Number(chain);
    let valid = false;
    let error = null;
    try {
      valid = util.ecVerifySig(data, sig, address, chainId) === true;
    } catch (e) {
      error = errText(e);
    }
    const r = { valid, error };
    if (!valid) {
      const rec = attempt(() => recoverAddress(sig, chainId));
      r.recovered = typeof rec === 'string' ? rec : null;
    }
    out[chain] = r;
  }
  return out;
}

function signAll(sign, key, chains) {
  const out = {};
  for (const c of chains || []) {
    const s = attempt(() => sign(keyBuf(key), c));
    out[String(c)] = typeof s === 'string' ? s : `ERROR: ${s.error}`;
  }
  return out;
}

function transaction(item) {
  const body = item.body;
  return {
    stable: attempt(() => stringify(body)),
    hash: attempt(() => util.bufferToHex(util.hashTransaction(body))),
    address: attempt(() => util.privateToAddress(keyBuf(item.key))),
    sigs: signAll((k, c) => util.ecSignTransaction(body, k, c), item.key, item.sign_chains),
    verify: verifyAll(body, item.rust_sigs, item.rust_address),
    // A signature made for one chain must not verify on another (`v` encodes the chain id).
    wrong_chain: verifyAll(body, item.wrong_chain_sigs, item.rust_address),
  };
}

function message(item) {
  const msg = item.message;
  return {
    hash: attempt(() => util.bufferToHex(util.hashMessage(msg))),
    sigs: signAll((k, c) => util.ecSignMessage(msg, k, c), item.key, item.sign_chains),
    verify: verifyAll(msg, item.rust_sigs, item.rust_address),
  };
}

function account(item) {
  const k = keyBuf(item.key);
  return {
    address: attempt(() => util.privateToAddress(k)),
    public_key: attempt(() => util.privateToPublic(k).toString('hex')),
    checksum_of_lowercase: attempt(() => util.toChecksumAddress(item.lowercase_address)),
  };
}

function keystoreOpen(item) {
  const r = attempt(() => pick(item.impl).v3KeystoreToPrivate(item.text, item.password));
  return Buffer.isBuffer(r) ? { key: r.toString('hex') } : r;
}

function keystoreWrite(item) {
  const r = attempt(() => pick(item.impl).privateToV3Keystore(keyBuf(item.key), item.password, item.options || {}));
  return r && r.error === undefined ? { text: JSON.stringify(r) } : r;
}

function main() {
  const [jobArg = '-', outArg = '-'] = process.argv.slice(2);
  const job = JSON.parse(fs.readFileSync(jobArg === '-' ? 0 : jobArg, 'utf8'));
  const result = {
    meta: {
      node: process.version,
      ain_util: packageVersion(UTIL_MAIN),
      fast_json_stable_stringify: packageVersion(depPath('fast-json-stable-stringify')),
      secp256k1: `${packageVersion(depPath('secp256k1'))} (${backend('secp256k1')})`,
      keccak: `${packageVersion(depPath('keccak'))} (${backend('keccak')})`,
    },
    transactions: (job.transactions || []).map(transaction),
    messages: (job.messages || []).map(message),
    accounts: (job.accounts || []).map(account),
    keystore_opens: (job.keystore_opens || []).map(keystoreOpen),
    keystore_writes: (job.keystore_writes || []).map(keystoreWrite),
  };
  const text = JSON.stringify(result);
  if (outArg === '-') process.stdout.write(text);
  else fs.writeFileSync(outArg, text);
}

main();
