//! A no-panic sweep: random expressions, well-formed and not, parsed and evaluated.

use super::*;

/// A small deterministic PRNG (xorshift64*), so the sweep is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn fuzz_ctx() -> Ctx {
    Ctx {
        data: json!({"a": {"b": [1, "x", null]}, "s": "\u{1F600}", "n": 0}),
        new_data: json!({"a": 1, "owner": ADDR, "list": [[1, [2]], {}]}),
        state: json!({"x": {"y": 1}}),
        ..Ctx::default()
    }
    .var("$v", "a")
    .var("$i", "0")
}

/// A random expression of the subset, at most `depth` levels deep.
fn gen_expr(rng: &mut Rng, depth: usize, out: &mut String) {
    const ATOMS: &[&str] = &[
        "data",
        "newData",
        "auth.addr",
        "auth.fid",
        "$v",
        "$i",
        "null",
        "true",
        "false",
        "0",
        "1.5",
        "-1",
        "'a'",
        "'/x'",
        "''",
        "\"\\u{1F600}\"",
        "currentTime",
        "blockNumber",
        "data.a",
        "data.a.b",
        "data.s",
        "newData.list",
        "newData[$v]",
        "data.a.b[$i]",
        "newData.owner.length",
        "data.s['1']",
        "newData.missing",
    ];
    if depth == 0 || rng.below(3) == 0 {
        out.push_str(ATOMS[rng.below(ATOMS.len())]);
        return;
    }
    match rng.below(7) {
        0 => {
            out.push('!');
            gen_expr(rng, depth - 1, out);
        }
        1 => {
            out.push('(');
            gen_expr(rng, depth - 1, out);
            out.push(')');
        }
        2 => {
            out.push_str("getValue(");
            gen_expr(rng, depth - 1, out);
            out.push(')');
        }
        3 => {
            const F: &[&str] = &[
                "isDict",
                "isString",
                "isNumber",
                "isCksumAddr",
                "isEmpty",
                "isInteger",
            ];
            out.push_str("util.");
            out.push_str(F[rng.below(F.len())]);
            out.push('(');
            gen_expr(rng, depth - 1, out);
            out.push(')');
        }
        _ => {
            const OPS: &[&str] = &[
                " && ", " || ", " + ", " === ", " !== ", " < ", " > ", " <= ", " >= ",
            ];
            gen_expr(rng, depth - 1, out);
            out.push_str(OPS[rng.below(OPS.len())]);
            gen_expr(rng, depth - 1, out);
        }
    }
}

/// Parsing must never panic, and whatever parses must evaluate without panicking.
#[test]
fn random_input_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let ctx = fuzz_ctx();
    let mut parsed = 0;
    let mut try_rule = |text: &str| {
        if let Ok(r) = Rule::parse(&json!(text)) {
            let _ = r.eval(&ctx);
            parsed += 1;
        }
    };
    for _ in 0..3000 {
        let len = rng.below(64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        try_rule(&String::from_utf8_lossy(&bytes));
    }
    const SOUP: &[&str] = &[
        "data",
        "newData",
        "auth",
        ".",
        "addr",
        "fid",
        "$v",
        "$i",
        "$nope",
        "getValue",
        "util",
        "isDict",
        "isCksumAddr",
        "isEmpty",
        "(",
        ")",
        "[",
        "]",
        "'/x'",
        "'a'",
        "\"\\u{1F600}\"",
        "'\\uD83D'",
        "1",
        "0",
        "1.5e3",
        "-",
        "!",
        "+",
        "===",
        "!==",
        "<",
        ">=",
        "&&",
        "||",
        "null",
        "true",
        "==",
        "=",
        ",",
        ";",
        "?",
        ":",
        "length",
        "constructor",
        "'0'",
        "b",
        "s",
        "n",
        "list",
        "owner",
        "currentTime",
        "{",
        "}",
        "`",
        "/",
        "\n",
        " ",
        "\\",
        "\u{fc}",
        "'",
        "typeof",
        "0x",
        "00",
        ".5",
        "1n",
    ];
    for _ in 0..3000 {
        let n = 1 + rng.below(24);
        let words: Vec<&str> = (0..n).map(|_| SOUP[rng.below(SOUP.len())]).collect();
        try_rule(&words.join(if rng.below(2) == 0 { " " } else { "" }));
    }
    // Valid rules, then the same with one character dropped, doubled or replaced.
    for _ in 0..3000 {
        let mut text = String::new();
        gen_expr(&mut rng, 6, &mut text);
        try_rule(&text);
        let mut chars: Vec<char> = text.chars().collect();
        let at = rng.below(chars.len());
        match rng.below(3) {
            0 => {
                chars.remove(at);
            }
            1 => chars.insert(at, chars[at]),
            _ => chars[at] = SOUP[rng.below(SOUP.len())].chars().next().unwrap_or('x'),
        }
        try_rule(&chars.into_iter().collect::<String>());
    }
    // Most generated rules are valid, so evaluation is exercised thoroughly, not just errors.
    assert!(parsed > 3000, "only {parsed} random rules parsed");
}
