//! Building the Python and JavaScript components the component tests run (cached by source
//! hash under the target directory: a build takes 10–25 s).
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use ain_sre::sandbox::FunctionCode;
use ain_sre::sandbox::wasm::package::{self, Language};
use sha2::Digest;

use super::common;

/// Where built components (and, in tests that set it, compiled artifacts) are kept.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    base.join("component-fixtures")
}

/// The component of `source`, built once per source (cached on disk), or `None` after a loud
/// skip when the packager is missing.
pub fn component(test: &str, lang: Language, source: &str) -> Option<FunctionCode> {
    if let Err(e) = lang.packager() {
        common::skip_or_fail(test, &e.to_string());
        return None;
    }
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let hash = hex::encode(sha2::Sha256::digest(
        format!("{}\n{}\n{source}", lang.runtime(), package::recipe()).as_bytes(),
    ));
    let path = dir.join(format!("{hash}.wasm"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(_) => {
            let b = package::build(lang, source.as_bytes(), &dir)
                .unwrap_or_else(|e| panic!("{test}: packaging failed: {e}"));
            // Tests of one binary may build the same source at once: one temp file each.
            let thread = format!("{:?}", std::thread::current().id());
            let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
            let tmp = dir.join(format!("{hash}.{}.{thread}.tmp", std::process::id()));
            std::fs::write(&tmp, &b).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
            b
        }
    };
    Some(FunctionCode::new(lang.runtime(), bytes))
}

/// One program per language, told what to do by its input (one component to build and compile
/// for every test: an 18 MB compile is slow in a debug build).
pub const PY: &str = r#"import sys, json, os
data = sys.stdin.read()
state = globals().setdefault("seen", [])
state.append(data)
if data == "raise":
    raise ValueError("bad input here")
if data == "exit3":
    sys.exit(3)
if data == "loop":
    while True:
        pass
if data == "grow":
    x = []
    while True:
        x.append(bytearray(1 << 20))
print(json.dumps({"echo": data, "seen": len(state), "key": os.environ.get("AIN_SRE_PRIVATE_KEY")}), end="")
"#;

pub const JS: &str = r#"globalThis.seen = (globalThis.seen || 0) + 1;
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  if (input === 'raise') throw new Error('bad input here');
  if (input === 'exit3') process.exit(3);
  if (input === 'loop') for (;;) {}
  if (input === 'grow') { const a = []; for (;;) a.push(new Uint8Array(1 << 20).fill(1)); }
  process.stdout.write(JSON.stringify({ echo: input, seen: globalThis.seen, key: process.env.AIN_SRE_PRIVATE_KEY || null }));
});
"#;
