//! Bounds on a module's shape that its byte size does not imply (SECURITY.md rows 24 and 25).
//!
//! Compiling costs more than linearly in some dimensions of a module, so the size cap does not
//! bound it. Measured on wasmtime 48 / Cranelift (issue 14): a function reading every one of
//! L × N locals inside L nested loops gives the compiler L × N block parameters — 11 KB
//! (1,024 loops × 2,000 locals) compiled in 8.2 s / 170 MB and 26 KB (2,048 × 5,000) in 94 s /
//! 584 MB; 200,000 empty functions in 400 KB took 6.4 s / 1.1 GB; 100,000 nested blocks in
//! 300 KB took 45 s. So before the compiler sees a module, one linear pass over it refuses:
//!
//! - control nesting deeper than [`MAX_NESTING`];
//! - more than [`MAX_FUNCTIONS`] functions, more than [`MAX_LOCALS`] locals in one function or
//!   [`MAX_TOTAL_LOCALS`] in the module, or a function body over [`MAX_BODY_BYTES`];
//! - a function whose nesting depth times its locals is over [`MAX_DEPTH_X_LOCALS`]: the bound
//!   on the block parameters the compiler may have to build.
//!
//! Real toolchains stay far below each (a Rust `wasm32-wasip1` hello: 70-odd functions, at most
//! a few dozen locals, nesting under 20). Compilation itself is also bounded in time and memory
//! by running it in a child process (see `compile`), so these limits are the fast, precise
//! answer, and the child is the backstop for shapes nobody has thought of yet.

use std::borrow::Cow;

use wasmparser::{Operator, Parser, Payload};

/// Deepest control nesting (`block`, `loop`, `if`, `try_table`, ...) accepted in a function.
pub const MAX_NESTING: usize = 4096;
/// Functions (imported and defined) in one module.
pub const MAX_FUNCTIONS: usize = 100_000;
/// Locals (parameters included) of one function.
pub const MAX_LOCALS: u64 = 10_000;
/// Locals (parameters included) of all functions together.
pub const MAX_TOTAL_LOCALS: u64 = 1_000_000;
/// Bytes of one function body.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// A function's deepest nesting times its locals: the block parameters the compiler may build.
pub const MAX_DEPTH_X_LOCALS: u64 = 250_000;

/// Refuses a module over any of the limits above, naming the limit. Text (`.wat`) is turned into
/// binary first, as the compiler would. Anything that does not parse is left to the compiler,
/// which reports it better.
#[cfg(test)]
pub(crate) fn check(bytes: &[u8]) -> Result<(), String> {
    let Ok(binary) = wat::parse_bytes(bytes) else {
        return Ok(());
    };
    check_binary(&binary)
}

/// [`check`] on a binary module.
pub(crate) fn check_binary(binary: &[u8]) -> Result<(), String> {
    measure(binary).map(|_| ())
}

/// The largest figures of a module's shape, for comparing real modules with the limits.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    functions: usize,
    max_locals: u64,
    total_locals: u64,
    max_depth: usize,
    max_depth_x_locals: u64,
    max_body_bytes: usize,
}

/// Reads a binary module's shape, refusing it at the first limit it goes over.
pub(crate) fn measure(binary: &[u8]) -> Result<Shape, String> {
    let mut shape = Shape::default();
    let binary: Cow<'_, [u8]> = Cow::Borrowed(binary);
    // Parameter counts of each type, and the type of each function, so locals include params.
    let mut type_params: Vec<u64> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut imported_funcs = 0usize;
    let mut defined = 0usize;
    let mut total_locals = 0u64;
    for payload in Parser::new(0).parse_all(&binary) {
        let Ok(payload) = payload else { break };
        match payload {
            Payload::TypeSection(reader) => {
                for rec in reader.into_iter().flatten() {
                    for sub in rec.types() {
                        let params = match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => f.params().len() as u64,
                            _ => 0,
                        };
                        type_params.push(params);
                    }
                }
            }
            Payload::ImportSection(reader) => {
                imported_funcs += reader
                    .into_imports()
                    .flatten()
                    .filter(|i| matches!(i.ty, wasmparser::TypeRef::Func(_)))
                    .count();
            }
            Payload::FunctionSection(reader) => {
                // The count is declared up front: refuse before reading a million entries.
                let declared = reader.count() as usize;
                if imported_funcs + declared > MAX_FUNCTIONS {
                    return Err(format!(
                        "module has {} functions, over the limit of {MAX_FUNCTIONS} (compile \
                         time and memory grow with the function count)",
                        imported_funcs + declared
                    ));
                }
                func_types.extend(reader.into_iter().flatten());
                shape.functions = imported_funcs + declared;
            }
            Payload::CodeSectionEntry(body) => {
                let index = defined;
                defined += 1;
                let size = body.range().len();
                if size > MAX_BODY_BYTES {
                    return Err(format!(
                        "function {index} is {size} bytes, over the limit of {MAX_BODY_BYTES} \
                         bytes per function body"
                    ));
                }
                let params = func_types
                    .get(index)
                    .and_then(|t| type_params.get(*t as usize))
                    .copied()
                    .unwrap_or(0);
                let mut locals = params;
                if let Ok(reader) = body.get_locals_reader() {
                    for group in reader.into_iter() {
                        let Ok((n, _)) = group else { break };
                        locals = locals.saturating_add(u64::from(n));
                        if locals > MAX_LOCALS {
                            return Err(format!(
                                "function {index} has more than {MAX_LOCALS} locals, over the \
                                 per-function limit"
                            ));
                        }
                    }
                }
                total_locals += locals;
                if total_locals > MAX_TOTAL_LOCALS {
                    return Err(format!(
                        "module has more than {MAX_TOTAL_LOCALS} locals in all, over the limit"
                    ));
                }
                let depth = max_depth(&body, index)?;
                shape.max_locals = shape.max_locals.max(locals);
                shape.total_locals = total_locals;
                shape.max_depth = shape.max_depth.max(depth);
                shape.max_depth_x_locals = shape.max_depth_x_locals.max(depth as u64 * locals);
                shape.max_body_bytes = shape.max_body_bytes.max(size);
                if (depth as u64).saturating_mul(locals) > MAX_DEPTH_X_LOCALS {
                    return Err(format!(
                        "function {index} nests {depth} deep with {locals} locals: depth x \
                         locals = {}, over the limit of {MAX_DEPTH_X_LOCALS} (this shape \
                         costs the compiler depth x locals block parameters)",
                        depth as u64 * locals
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// The deepest control nesting of one function body; refuses over [`MAX_NESTING`].
fn max_depth(body: &wasmparser::FunctionBody<'_>, index: usize) -> Result<usize, String> {
    let Ok(mut ops) = body.get_operators_reader() else {
        return Ok(0);
    };
    // The function's own body is one open frame, closed by its final `end`.
    let mut depth = 1usize;
    let mut deepest = 0usize;
    while !ops.eof() {
        let Ok(op) = ops.read() else { break };
        match op {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. } => {
                depth += 1;
                deepest = deepest.max(depth - 1);
                if depth - 1 > MAX_NESTING {
                    return Err(format!(
                        "function {index}: control flow nested more than {MAX_NESTING} deep (a \
                         module this deep costs more to compile than its size suggests)"
                    ));
                }
            }
            Operator::End => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(deepest)
}

/// Generators of modules that are small but costly to compile: the attacks the limits above
/// refuse. Used by the tests and by conformance row 25.
pub mod bombs {
    /// `loops` nested loops around a read of each of `locals` locals (issue 14's compile bomb:
    /// 4,096 × 20,000 is 96 KB and compiled for minutes at gigabytes without the limits).
    pub fn nested_loops(loops: usize, locals: usize) -> Vec<u8> {
        let mut s = String::with_capacity(loops * 10 + locals * 16 + 200);
        s.push_str("(module (memory (export \"memory\") 1) (func (export \"_start\")");
        s.push_str(&format!(
            " (local i32) (local {})",
            "i32 ".repeat(locals.saturating_sub(1))
        ));
        for _ in 0..loops {
            s.push_str(" loop");
        }
        for i in 0..locals {
            s.push_str(&format!(" local.get {i} drop"));
        }
        for _ in 0..loops {
            s.push_str(" end");
        }
        s.push_str("))");
        wat::parse_str(&s).expect("generated module parses")
    }

    /// `n` empty functions (issue 14: 200,000 in 400 KB compiled in 6.4 s at 1.1 GB).
    pub fn many_functions(n: usize) -> Vec<u8> {
        // Built directly in binary: text this large takes the `wat` parser longer than the check.
        let mut out = b"\0asm\x01\0\0\0".to_vec();
        let section = |id: u8, body: Vec<u8>, out: &mut Vec<u8>| {
            out.push(id);
            leb(body.len() as u64, out);
            out.extend(body);
        };
        // One type: () -> ().
        section(1, vec![1, 0x60, 0, 0], &mut out);
        let mut funcs = Vec::new();
        leb(n as u64, &mut funcs);
        funcs.extend(std::iter::repeat_n(0u8, n));
        section(3, funcs, &mut out);
        let mut exports = vec![1, 6];
        exports.extend(b"_start");
        exports.extend([0, 0]);
        section(7, exports, &mut out);
        let mut code = Vec::new();
        leb(n as u64, &mut code);
        for _ in 0..n {
            // Body: size 2, no locals, `end`.
            code.extend([2, 0, 0x0b]);
        }
        section(10, code, &mut out);
        out
    }

    fn leb(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
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
    fn compile_bombs_are_refused_naming_the_limit() {
        let err = check(&bombs::nested_loops(4096, 20_000)).unwrap_err();
        assert!(err.contains("locals, over the per-function limit"), "{err}");
        let err = check(&bombs::nested_loops(1024, 2_000)).unwrap_err();
        assert!(err.contains("depth x locals = 2048000"), "{err}");
        let err = check(&bombs::many_functions(200_000)).unwrap_err();
        assert!(err.contains("200000 functions, over the limit"), "{err}");
        // Just inside every limit passes.
        assert_eq!(check(&bombs::nested_loops(100, 2_500)), Ok(()));
        assert_eq!(check(&bombs::many_functions(MAX_FUNCTIONS)), Ok(()));
    }

    #[test]
    fn total_locals_are_bounded() {
        // 200 functions of 9,000 locals each: every function is fine, the module is not.
        let f = format!("(func (local {}))", "i32 ".repeat(9_000));
        let m = format!("(module {})", f.repeat(200));
        let err = check(m.as_bytes()).unwrap_err();
        assert!(err.contains("locals in all"), "{err}");
    }

    /// Prints the shape of the modules named in `SHAPE_FILES` (colon-separated): how real
    /// toolchains' output compares with the limits.
    #[test]
    #[ignore = "a measurement, run by hand"]
    fn shape_of_real_modules() {
        for path in std::env::var("SHAPE_FILES").unwrap_or_default().split(':') {
            if path.is_empty() {
                continue;
            }
            let bytes = std::fs::read(path).unwrap();
            eprintln!("{path} ({} bytes): {:?}", bytes.len(), measure(&bytes));
        }
    }

    #[test]
    fn garbage_is_left_to_the_compiler() {
        assert_eq!(check(b"\0asm\x01\0\0\0\xff\xff"), Ok(()));
        assert_eq!(check(b"not a module"), Ok(()));
    }
}
