//! The texts packaging writes beside a function's source: the world components are built for,
//! the Python and JavaScript wrappers that run `main.py` / `main.js` as scripts, and the
//! `sre_http` module Python functions use for outgoing requests.

/// The world components are built for: what a function may use, and `wasi:cli/run`.
pub(super) const WORLD: &str = "package ain:sre;

world function {
  import wasi:cli/environment@0.2.12;
  import wasi:cli/exit@0.2.12;
  import wasi:cli/stdin@0.2.12;
  import wasi:cli/stdout@0.2.12;
  import wasi:cli/stderr@0.2.12;
  import wasi:clocks/monotonic-clock@0.2.12;
  import wasi:clocks/wall-clock@0.2.12;
  import wasi:random/random@0.2.12;
  import wasi:http/outgoing-handler@0.2.12;
  export wasi:cli/run@0.2.12;
}
";

/// Runs `main.py` as `__main__`; an exception prints its traceback and exits 1, `sys.exit(n)`
/// exits `n`. The source is compiled, and the modules it imports loaded, while the packager
/// pre-initializes the interpreter, so a call starts from that snapshot.
pub(super) const PY_WRAPPER: &str = r#"import ast, base64, importlib, sys, traceback
from wit_world import exports
from wit_world.imports import exit as _wasi_exit

_SOURCE = base64.b64decode("@SOURCE@").decode("utf-8")
_CODE = compile(_SOURCE, "main.py", "exec")
for _node in ast.walk(ast.parse(_SOURCE)):
    _names = []
    if isinstance(_node, ast.Import):
        _names = [a.name for a in _node.names]
    elif isinstance(_node, ast.ImportFrom) and _node.module and not _node.level:
        _names = [_node.module]
    for _name in _names:
        try:
            importlib.import_module(_name)
        except Exception:
            pass


class Run(exports.Run):
    def run(self) -> None:
        code = 0
        try:
            exec(_CODE, {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__})
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        if code != 0:
            _wasi_exit.exit_with_code(code & 0xFF or 1)
"#;

/// `sre_http`, importable by a `main.py`: HTTP requests over `wasi:http`, which the worker sends
/// through the call's egress proxy. Resources are dropped child first, as the host requires.
pub(super) const PY_HTTP: &str = r#""""HTTP requests from a python3-wasm function (wasi:http).

    import sre_http
    status, headers, body = sre_http.request("GET", "https://api.example.com/v1/items",
                                             headers={"Authorization": "Bearer ..."})

The worker sends every request through the call's egress proxy: only destinations on the
function's allow-list (deploy --allow-net) are reached, the receipt counts them, and each request
carries `Idempotency-Key: <app>/<fn>/<call_id>`. A refused or failed request raises HttpError
naming the wasi:http error code (HttpRequestDenied when refused). `headers` in the answer are
lower-cased names to str values; `body` is bytes.
"""
from componentize_py_types import Err
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import types as _t

__all__ = ["HttpError", "request"]

_METHODS = {
    "GET": _t.Method_Get, "HEAD": _t.Method_Head, "POST": _t.Method_Post, "PUT": _t.Method_Put,
    "DELETE": _t.Method_Delete, "OPTIONS": _t.Method_Options, "PATCH": _t.Method_Patch,
}


class HttpError(Exception):
    """A request that was refused or failed: the message names the wasi:http error code."""


def _name(code):
    return type(code).__name__.replace("ErrorCode_", "")


def _drop(resource):
    resource.__exit__(None, None, None)


def request(method, url, headers=None, body=None, timeout_ms=None):
    """Sends one request; returns (status, headers, body)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise ValueError("the url must start with http:// or https://")
    authority, slash, path = rest.partition("/")
    path = "/" + path if slash else "/"
    data = body.encode() if isinstance(body, str) else (bytes(body) if body is not None else None)
    entries = []
    for k, v in (headers or {}).items():
        entries.append((k, v.encode() if isinstance(v, str) else bytes(v)))
    if data is not None and not any(k.lower() == "content-length" for k, _ in entries):
        entries.append(("content-length", str(len(data)).encode()))
    req = _t.OutgoingRequest(_t.Fields.from_list(entries))
    verb = method.upper()
    req.set_method(_METHODS[verb]() if verb in _METHODS else _t.Method_Other(verb))
    req.set_scheme(_t.Scheme_Https() if scheme == "https" else _t.Scheme_Http())
    req.set_authority(authority)
    req.set_path_with_query(path)
    out_body = req.body()
    options = None
    if timeout_ms is not None:
        options = _t.RequestOptions()
        options.set_connect_timeout(int(timeout_ms) * 1_000_000)
        options.set_first_byte_timeout(int(timeout_ms) * 1_000_000)
    try:
        future = outgoing_handler.handle(req, options)
    except Err as e:
        raise HttpError(_name(e.value)) from None
    if data:
        out = out_body.write()
        try:
            for i in range(0, len(data), 4096):
                out.blocking_write_and_flush(data[i:i + 4096])
        except Err as e:
            _drop(out)
            raise HttpError("sending the body: " + type(e.value).__name__) from None
        _drop(out)
    _t.OutgoingBody.finish(out_body, None)
    ready = future.subscribe()
    ready.block()
    _drop(ready)
    got = future.get()
    _drop(future)
    if got is None or isinstance(got, Err):
        raise HttpError("no response")
    if isinstance(got.value, Err):
        raise HttpError(_name(got.value.value))
    response = got.value.value
    status = response.status()
    fields = response.headers()
    answer = {}
    for k, v in fields.entries():
        k = k.lower()
        v = v.decode("latin-1")
        answer[k] = answer[k] + ", " + v if k in answer else v
    _drop(fields)
    incoming = response.consume()
    stream = incoming.stream()
    chunks = []
    while True:
        try:
            chunks.append(stream.blocking_read(65536))
        except Err as e:
            if isinstance(e.value, streams.StreamError_Closed):
                break
            _drop(stream)
            raise HttpError("reading the response: " + type(e.value).__name__) from None
    _drop(stream)
    _drop(_t.IncomingBody.finish(incoming))
    _drop(response)
    return status, answer, b"".join(chunks)
"#;

/// A small `process` for scripts written for Node: `process.stdin` (`setEncoding`, `on('data')`,
/// `on('end')`, `read`), `process.stdout.write`, `process.stderr.write`, `process.exit`,
/// `process.env`, `process.argv`; and `console` to stdout/stderr.
pub(super) const JS_WRAPPER: &str = r#"import { getStdin } from 'wasi:cli/stdin@0.2.12';
import { getStdout } from 'wasi:cli/stdout@0.2.12';
import { getStderr } from 'wasi:cli/stderr@0.2.12';
import { exitWithCode } from 'wasi:cli/exit@0.2.12';
import { getEnvironment } from 'wasi:cli/environment@0.2.12';

class ExitSignal { constructor(code) { this.code = code; } }

function readAll() {
  const s = getStdin();
  const parts = [];
  let n = 0;
  for (;;) {
    let chunk;
    try { chunk = s.blockingRead(65536n); } catch (e) { break; }
    if (chunk.length === 0) break;
    parts.push(chunk);
    n += chunk.length;
  }
  const all = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { all.set(p, o); o += p.length; }
  return all;
}

function writer(stream) {
  const enc = new TextEncoder();
  return {
    write(x) {
      const b = typeof x === 'string' ? enc.encode(x) : new Uint8Array(x);
      for (let i = 0; i < b.length; i += 4096) {
        stream.blockingWriteAndFlush(b.subarray(i, i + 4096));
      }
      return true;
    },
  };
}

function runMain() {
  const out = getStdout();
  const err = getStderr();
  const stdout = writer(out);
  const stderr = writer(err);
  const input = readAll();
  const handlers = { data: [], end: [] };
  let encoding = null;
  const env = {};
  for (const [k, v] of getEnvironment()) env[k] = v;
  const process = {
    env,
    argv: ['node', 'main.js'],
    stdout,
    stderr,
    exitCode: 0,
    exit(code) { throw new ExitSignal(code === undefined ? process.exitCode : code); },
    stdin: {
      setEncoding(e) { encoding = e; return this; },
      on(ev, f) { if (handlers[ev]) handlers[ev].push(f); return this; },
      read() { return encoding ? new TextDecoder().decode(input) : input; },
    },
  };
  const fmt = (args) => args.map((a) => typeof a === 'string' ? a : JSON.stringify(a)).join(' ') + '\n';
  const console = {
    log: (...a) => stdout.write(fmt(a)),
    info: (...a) => stdout.write(fmt(a)),
    error: (...a) => stderr.write(fmt(a)),
    warn: (...a) => stderr.write(fmt(a)),
  };
  let code = 0;
  try {
    (function (process, console) {
@SOURCE@
    })(process, console);
    const chunk = encoding ? new TextDecoder().decode(input) : input;
    if (input.length > 0) for (const f of handlers.data) f(chunk);
    for (const f of handlers.end) f();
    code = process.exitCode | 0;
  } catch (e) {
    if (e instanceof ExitSignal) {
      code = e.code | 0;
    } else {
      stderr.write(String(e && e.stack ? e + '\n' + e.stack : e) + '\n');
      code = 1;
    }
  }
  if (code !== 0) exitWithCode(code & 0xff || 1);
}

export const run = { run: runMain };
"#;

/// A digest of everything above: a component cached from an older recipe is built again.
pub(super) fn recipe_digest() -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [WORLD, PY_WRAPPER, PY_HTTP, JS_WRAPPER] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}
