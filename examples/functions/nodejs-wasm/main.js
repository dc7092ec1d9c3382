// ain-sre example function (nodejs-wasm): JavaScript packaged into a WASI component
// (StarlingMonkey), on the WASM tier. Reads a JSON object on stdin, greets `name`, prints JSON.
// Build: ain-sre build examples/functions/nodejs-wasm --runtime nodejs-wasm (needs componentize-js).
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  let request;
  try {
    request = JSON.parse(input || '{}');
  } catch (e) {
    process.stderr.write(`input is not JSON: ${e.message}\n`);
    process.exit(2);
  }
  const name = (request && typeof request === 'object' && request.name) || 'world';
  process.stdout.write(JSON.stringify({ greeting: `hello, ${name}`, runtime: 'nodejs-wasm' }));
});
