//! Bounds on a module's shape that its byte size does not imply (SECURITY.md row 24).
//!
//! Compiling deeply nested control flow costs more than linearly in the depth: measured here,
//! 10,000 nested blocks took ~12x less CPU to compile than 40,000, and a 300 KB module of
//! 100,000 took 45 s (debug build). The size cap does not bound that, and a compile cannot be
//! cancelled, so the shape is checked first, by one linear pass over the operators, before the
//! compiler sees the module. Compilers emit nesting in the hundreds (a `match` of N arms is N
//! nested blocks); the limit is far above that.

use std::borrow::Cow;

use wasmparser::{Operator, Parser, Payload};

/// Deepest control nesting (`block`, `loop`, `if`, `try_table`, ...) accepted in a function.
pub const MAX_NESTING: usize = 4096;

/// Refuses a module whose control nesting goes deeper than [`MAX_NESTING`]. Text (`.wat`) is
/// turned into binary first, as the compiler would. Anything that does not parse is left to the
/// compiler, which reports it better.
pub(crate) fn check(bytes: &[u8]) -> Result<(), String> {
    let Ok(binary) = wat::parse_bytes(bytes) else {
        return Ok(());
    };
    let binary: Cow<'_, [u8]> = binary;
    for payload in Parser::new(0).parse_all(&binary) {
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let Ok(mut ops) = body.get_operators_reader() else {
            continue;
        };
        // The function's own body is one open frame, closed by its final `end`.
        let mut depth = 1usize;
        while !ops.eof() {
            let Ok(op) = ops.read() else { break };
            match op {
                Operator::Block { .. }
                | Operator::Loop { .. }
                | Operator::If { .. }
                | Operator::Try { .. }
                | Operator::TryTable { .. } => {
                    depth += 1;
                    if depth - 1 > MAX_NESTING {
                        return Err(format!(
                            "control flow nested more than {MAX_NESTING} deep (a module this \
                             deep costs more to compile than its size suggests)"
                        ));
                    }
                }
                Operator::End => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Vec<u8> {
        format!(
            "(module (func (export \"_start\") {}{}))",
            "block ".repeat(depth),
            "end ".repeat(depth)
        )
        .into_bytes()
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_beyond_is_refused() {
        assert_eq!(check(&nested(MAX_NESTING)), Ok(()));
        let err = check(&nested(MAX_NESTING + 1)).unwrap_err();
        assert!(err.contains("nested more than 4096"), "{err}");
        // Binary modules are read the same way as text.
        let bin = wat::parse_bytes(&nested(MAX_NESTING + 1))
            .unwrap()
            .into_owned();
        assert!(check(&bin).is_err());
        // Siblings do not add up: a thousand blocks side by side are depth 1.
        let wide = format!("(module (func {}))", "block end ".repeat(10_000));
        assert_eq!(check(wide.as_bytes()), Ok(()));
    }

    #[test]
    fn garbage_is_left_to_the_compiler() {
        assert_eq!(check(b"\0asm\x01\0\0\0\xff\xff"), Ok(()));
        assert_eq!(check(b"not a module"), Ok(()));
    }
}
