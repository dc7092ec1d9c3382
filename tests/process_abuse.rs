//! The abuse suite of `SECURITY.md` (rows 1–22) against the process tier. Each test is a hostile
//! program and passes when the attack fails. Needs root (strict mode fails the tests otherwise).

mod common;
#[path = "process_abuse/kernel.rs"]
mod kernel;
mod process_common;
#[path = "process_abuse/resources.rs"]
mod resources;

use std::time::{Duration, Instant};

use ain_sre::config::runtimes::RuntimeCatalog;
use ain_sre::sandbox::{Failure, Limits, Outcome};
use process_common::{Jail, text_of};

fn quick() -> Limits {
    Limits {
        wall_time: Duration::from_secs(3),
        ..Limits::default()
    }
}

/// Python prelude: `sys_(nr, *args)` returns `-errno` on failure; `EPERM` is 1.
const PRELUDE: &str = r#"
import ctypes, os, sys, errno
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys_(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return r if r >= 0 else -ctypes.get_errno()
"#;

async fn py(j: &Jail, body: &str) -> String {
    let out = j.py(&format!("{PRELUDE}\n{body}"), quick()).await;
    assert_eq!(out.status(), "ok", "{out:?}");
    text_of(&out)
}
