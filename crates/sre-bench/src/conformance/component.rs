//! The WASM rows on components (issue 21): each WASM test module of `conformance/wat/` is
//! wrapped into a WASI 0.2 `wasi:cli/command` component by a preview-1 adapter written in
//! component text (`conformance/component/adapter.wat`), so the same programs and assertions
//! run on the tier's component path (component linker, limiter, epoch deadline, caps) with no
//! packager installed.
//!
//! Rows whose WASM form is a preview-1 import the adapter does not translate (they probe the
//! preview-1 import surface itself) are `n/a` on components, with the reason
//! ([`module_only`]); the component import allow-list is tested in `tests/wasm_component.rs`.

use crate::sandbox::FunctionCode;

/// The adapter, with `;; @guest` where the module goes.
const ADAPTER: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/conformance/component/adapter.wat"
));

/// Where the guest module goes in [`ADAPTER`].
const GUEST: &str = "\n;; @guest\n";

/// `code` as a component: WebAssembly text whose first form is `(module` is wrapped; anything
/// else (a binary, a component, garbage) is returned as is, to be judged as it is.
pub fn wrap(code: &FunctionCode) -> FunctionCode {
    let Ok(text) = std::str::from_utf8(&code.bytes) else {
        return code.clone();
    };
    let Some(at) = module_start(text) else {
        return code.clone();
    };
    let body = &text[at + "(module".len()..];
    // The adapter reads and writes the guest's memory: export it, or give it one.
    let body = if body.contains("(export \"memory\")") {
        body.to_owned()
    } else if let Some(i) = body.find("(memory ") {
        format!(
            "{}(memory (export \"memory\") {}",
            &body[..i],
            &body[i + 8..]
        )
    } else {
        format!(" (memory (export \"memory\") 1){body}")
    };
    let guest = format!("\n{}(core module $Guest{body}\n", &text[..at]);
    FunctionCode::new(
        code.runtime.clone(),
        ADAPTER.replacen(GUEST, &guest, 1).into_bytes(),
    )
}

/// The byte offset of the `(module` that opens `text`, past whitespace and `;;` comments.
fn module_start(text: &str) -> Option<usize> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with(";;") {
            at += line.len();
            continue;
        }
        let lead = line.len() - t.len();
        return t
            .strip_prefix("(module")
            .filter(|rest| rest.starts_with(|c: char| c.is_whitespace() || c == ')'))
            .map(|_| at + lead);
    }
    None
}

/// Why row `id` has no component form here, or `None` when it runs on components.
pub fn module_only(id: &str) -> Option<&'static str> {
    Some(match id {
        "4" => {
            "its WASM form sleeps in preview-1 poll_oneoff, which the adapter does not translate; C8 holds the deadline on a component"
        }
        "5" => {
            "its WASM form opens files with preview-1 path_open; a component gets no preopens (wasi:filesystem is linked inert)"
        }
        "7" => {
            "its WASM form imports preview-1 sock_accept; a component's wasi:sockets imports are linked inert or refused at prepare (tests/wasm_component.rs)"
        }
        "8" => {
            "its WASM form probes preview-1 preopens (fd_prestat_get); C6 checks a component's environment"
        }
        "22" => "its WASM form imports preview-1 clock_time_set, which has no WASI 0.2 form",
        "24" => {
            "malformed code is refused before a module is told from a component (the module column)"
        }
        "25" => {
            "its bombs are core-module shapes without _start; components go through the same compiler child and limits"
        }
        "31" => {
            "its WASM form floods preview-1 poll_oneoff subscriptions, which the adapter does not translate"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_wrapped_and_anything_else_is_left_alone() {
        let m = FunctionCode::new(
            "wasm",
            b";; a comment\n;; (module in a comment\n(module\n  (memory (export \"memory\") 1))"
                .to_vec(),
        );
        let c = wrap(&m);
        let text = std::str::from_utf8(&c.bytes).unwrap();
        assert!(text.contains(";; (module in a comment\n(core module $Guest\n  (memory"));
        assert!(!text.contains(GUEST));
        let parsed = wat::parse_str(text).expect("the wrapped module is component text");
        assert!(crate::sandbox::wasm::package::is_component(&parsed));
        // A module without an exported memory gets one (the adapter works in it).
        for (module, memory) in [
            (
                "(module (memory 2) (func (export \"_start\")))",
                "(memory (export \"memory\") 2)",
            ),
            (
                "(module (func (export \"_start\")))",
                "(memory (export \"memory\") 1)",
            ),
        ] {
            let c = wrap(&FunctionCode::new("wasm", module.as_bytes().to_vec()));
            let text = std::str::from_utf8(&c.bytes).unwrap();
            assert!(text.contains(memory), "{module}");
            wat::parse_str(text).unwrap();
        }
        for other in [
            &b"\0asm\x01\0\0\0"[..],
            b"(component)",
            b"(modules)",
            b"\xff",
        ] {
            let code = FunctionCode::new("wasm", other.to_vec());
            assert_eq!(wrap(&code).bytes, code.bytes);
        }
    }
}
