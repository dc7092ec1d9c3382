//! What a component may import (WASI 0.2 interfaces only), checked in one
//! pass before it is compiled; and telling a component from a module, in binary or text.

use wasmparser::{Encoding, Parser, Payload};

/// Whether `binary` is a component (as opposed to a core module).
pub(crate) fn is_component(binary: &[u8]) -> bool {
    Parser::is_component(binary)
}

/// Whether `code` is a component, in binary or in text (its first form is `(component`).
pub(crate) fn is_component_code(code: &[u8]) -> bool {
    if is_component(code) {
        return true;
    }
    let mut rest = code;
    loop {
        rest = rest.trim_ascii_start();
        if let Some(r) = rest.strip_prefix(b";;") {
            // Past the end of the comment's line (all of the rest: more comments may follow).
            rest = r
                .iter()
                .position(|b| *b == b'\n')
                .map_or(&[][..], |i| &r[i + 1..]);
        } else if let Some(r) = rest.strip_prefix(b"(;") {
            // Block comments do not nest in practice here; the first `;)` ends it.
            match r.windows(2).position(|w| w == b";)") {
                Some(end) => rest = &r[end + 2..],
                None => return false,
            }
        } else {
            let rest = rest.strip_prefix(b"(").unwrap_or(&[]).trim_ascii_start();
            return rest.starts_with(b"component")
                && !rest
                    .get(9)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        }
    }
}

/// Interfaces a component may import, by `package/interface` (any 0.2.x version).
const LINKED: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    // Outgoing requests, each through the call's egress proxy (denied without egress).
    "wasi:http/types",
    "wasi:http/outgoing-handler",
];

/// Imported by every packager's C library; linked to implementations that grant nothing.
const INERT: &[&str] = &[
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// Checks a component's top-level imports and that it exports `wasi:cli/run`, before compiling
/// it; returns a reason naming the first problem. Nested core modules' imports are internal
/// (other instances of the same component satisfy them) and not looked at.
pub(crate) fn check(binary: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    let mut runs = false;
    for payload in Parser::new(0).parse_all(binary) {
        let payload = payload.map_err(|e| format!("invalid WebAssembly component: {e}"))?;
        match payload {
            Payload::Version { encoding, .. } => {
                depth += 1;
                if depth == 1 && encoding != Encoding::Component {
                    return Err("not a component".into());
                }
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(|e| format!("invalid component import: {e}"))?;
                    check_import(import.name.name)?;
                    if let Some(interface) = import.name.implements {
                        check_import(interface)?;
                    }
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader.into_iter().flatten() {
                    let (name, version) = split_version(export.name.name);
                    runs |= name == "wasi:cli/run" && version.starts_with("0.2.");
                }
            }
            _ => {}
        }
    }
    if !runs {
        return Err(
            "component does not export `wasi:cli/run@0.2.x`: build it for the \
                    `wasi:cli/command` world (a command reading stdin, writing stdout)"
                .into(),
        );
    }
    Ok(())
}

fn split_version(name: &str) -> (&str, &str) {
    name.split_once('@').unwrap_or((name, ""))
}

fn check_import(full: &str) -> Result<(), String> {
    let (name, version) = split_version(full);
    if LINKED.contains(&name) || INERT.contains(&name) {
        if version.starts_with("0.2.") {
            return Ok(());
        }
        return Err(format!(
            "import `{full}` refused: only WASI 0.2.x interfaces are provided"
        ));
    }
    let why = if name.starts_with("wasi:http/") {
        "only outgoing requests (`wasi:http/outgoing-handler`) are provided"
    } else if name.starts_with("wasi:sockets/") {
        "sockets are not available to functions (no network)"
    } else if name.starts_with("wasi:filesystem/") {
        "filesystem access is not available to functions (no preopened directories)"
    } else if name.starts_with("wasi:") {
        "this WASI interface is not provided"
    } else {
        "only WASI 0.2 interfaces are linked"
    };
    Err(format!("import `{full}` refused: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_allowed_inert_or_refused_by_name() {
        assert!(check_import("wasi:cli/stdin@0.2.12").is_ok());
        // Inert: every packager's libc imports them; nothing behind them grants access.
        assert!(check_import("wasi:sockets/tcp@0.2.9").is_ok());
        assert!(check_import("wasi:filesystem/preopens@0.2.0").is_ok());
        // Outgoing HTTP goes through the egress proxy.
        assert!(check_import("wasi:http/outgoing-handler@0.2.12").is_ok());
        assert!(check_import("wasi:http/types@0.2.0").is_ok());
        for (import, why) in [
            (
                "wasi:http/incoming-handler@0.2.12",
                "only outgoing requests",
            ),
            ("wasi:cli/stdin@0.3.0", "only WASI 0.2.x"),
            ("wasi:keyvalue/store@0.2.0", "not provided"),
            ("host:evil/spawn", "only WASI 0.2"),
        ] {
            let e = check_import(import).unwrap_err();
            assert!(e.contains(import) && e.contains(why), "{e}");
        }
    }

    #[test]
    fn components_are_told_from_modules_in_text_too() {
        assert!(is_component_code(
            b";; a comment\n(; block ;) ( component )"
        ));
        assert!(is_component_code(
            b";; one\n;; two\n\n;; three\n(component)"
        ));
        assert!(!is_component_code(b";; one\n;; two\n(module)"));
        assert!(!is_component_code(b"(module)"));
        assert!(!is_component_code(b"(components)"));
        assert!(!is_component_code(b"\0asm\x01\0\0\0"));
    }
}
