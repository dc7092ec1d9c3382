// Large inputs and outputs with plain HTTP (ain-sre's blob protocol, issue 20): any client can
// do this without ain-sre's CLI.
//
//   PUT /blobs/<sha256>  body = the bytes
//     x-ain-blob-size: <bytes>
//     x-ain-blob-signature: ain.wallet.sign(`ain-sre-blob:<sha256>:<size>`)
//   GET /blobs/<sha256>  -> the bytes
//
// The request then carries {input_ref: {sha256, size, url}} instead of {input}; a response whose
// output did not fit on chain carries output_ref: {sha256, size, url}, and its bytes must hash
// to receipt.output_hash.
'use strict';

const crypto = require('crypto');

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

/** Uploads `bytes` (a Buffer) to the blob store at `base`, signed by ain's default account. */
async function upload(ain, base, bytes) {
  const hash = sha256(bytes);
  const url = `${base.replace(/\/+$/, '')}/blobs/${hash}`;
  const signature = ain.wallet.sign(`ain-sre-blob:${hash}:${bytes.length}`);
  const res = await fetch(url, {
    method: 'PUT',
    body: bytes,
    headers: { 'x-ain-blob-size': String(bytes.length), 'x-ain-blob-signature': signature },
  });
  if (!res.ok) throw new Error(`blob store refused the upload (${res.status}): ${(await res.text()).trim()}`);
  return { sha256: hash, size: bytes.length, url };
}

/** Downloads `ref` ({sha256, size, url}) and checks its size and hash; returns a Buffer. */
async function download(ref) {
  const res = await fetch(ref.url);
  if (res.status !== 200) throw new Error(`${ref.url} answered ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (bytes.length !== ref.size) throw new Error(`${ref.url}: ${bytes.length} bytes, not ${ref.size}`);
  if (sha256(bytes) !== ref.sha256) throw new Error(`${ref.url}: the bytes do not hash to ${ref.sha256}`);
  return bytes;
}

module.exports = { upload, download, sha256 };
