//! An ain-sre function: reads its input on stdin and prints a JSON object on stdout with the
//! number of bytes, lines and whitespace-separated words. No dependencies, so it builds in seconds:
//! `cargo build --release --target wasm32-wasip1`.

use std::io::{Read, Write};

fn main() {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("cannot read input: {e}");
        std::process::exit(2);
    }
    let text = String::from_utf8_lossy(&input);
    let words = text.split_whitespace().count();
    let lines = text.lines().count();
    let name = std::env::args().next().unwrap_or_default();
    let out = format!(
        "{{\"function\":\"{}\",\"bytes\":{},\"lines\":{},\"words\":{}}}",
        name.replace('\\', "\\\\").replace('"', "\\\""),
        input.len(),
        lines,
        words
    );
    if std::io::stdout().write_all(out.as_bytes()).is_err() {
        std::process::exit(3);
    }
}
