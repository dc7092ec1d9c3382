//! What a `native` function must be before it is run: a static ELF executable for this host's
//! machine. The process tier binds nothing of the host's into a `native` sandbox, so a
//! dynamically linked program would end in `exec: No such file or directory` (exit 127) and be
//! answered `error` on every call, blaming nobody; it is refused at prepare with the reason.

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};

/// The ELF machine this worker runs.
fn host_machine() -> Option<u16> {
    match std::env::consts::ARCH {
        "x86_64" => Some(elf::EM_X86_64),
        "aarch64" => Some(elf::EM_AARCH64),
        _ => None,
    }
}

/// `Ok` when `code` is a 64-bit ELF executable for this host's machine with no program
/// interpreter; otherwise why not, in words for the function's author.
pub(crate) fn check_static_executable(code: &[u8]) -> Result<(), String> {
    const HINT: &str = "the native runtime runs a static 64-bit ELF executable";
    if !code.starts_with(b"\x7fELF") {
        return Err(format!("not an ELF file: {HINT}"));
    }
    let header = elf::FileHeader64::<object::Endianness>::parse(code)
        .map_err(|e| format!("not a valid 64-bit ELF file ({e}): {HINT}"))?;
    let endian = header
        .endian()
        .map_err(|e| format!("not a valid ELF file ({e}): {HINT}"))?;
    let kind = header.e_type(endian);
    if kind != elf::ET_EXEC && kind != elf::ET_DYN {
        return Err(format!(
            "an ELF file but not an executable (type {kind}): {HINT}"
        ));
    }
    let machine = header.e_machine(endian);
    if host_machine().is_some_and(|m| m != machine) {
        return Err(format!(
            "an ELF executable for machine {machine}; this worker runs {} ({HINT})",
            std::env::consts::ARCH
        ));
    }
    let headers = header
        .program_headers(endian, code)
        .map_err(|e| format!("unreadable ELF program headers ({e}): {HINT}"))?;
    if headers.is_empty() {
        return Err(format!("an ELF file without program headers: {HINT}"));
    }
    for ph in headers {
        if ph.p_type(endian) == elf::PT_INTERP {
            let interp = ph
                .data(endian, code)
                .ok()
                .map(|d| String::from_utf8_lossy(d).trim_end_matches('\0').to_owned())
                .unwrap_or_default();
            return Err(format!(
                "not a static binary: it needs the dynamic loader {interp}, which the sandbox does not have; link it statically (for example `--target x86_64-unknown-linux-musl`, or `-static`)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_binaries_and_non_executables_are_refused_with_the_reason() {
        // The test binary itself is dynamically linked (glibc).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let err = check_static_executable(&me).unwrap_err();
        assert!(
            err.contains("not a static binary") && err.contains("ld-linux"),
            "{err}"
        );
        assert!(
            check_static_executable(b"#!/bin/sh\necho hi\n")
                .unwrap_err()
                .contains("not an ELF")
        );
        let mut truncated = me[..40].to_vec();
        truncated.truncate(40);
        assert!(check_static_executable(&truncated).is_err());
        // Another machine's executable.
        let mut other = me.clone();
        other[18..20].copy_from_slice(&elf::EM_RISCV.to_le_bytes());
        assert!(
            check_static_executable(&other)
                .unwrap_err()
                .contains("for machine")
        );
        if std::env::consts::ARCH == "x86_64" {
            let ok = crate::process::samples::static_elf(b"hi\n");
            assert_eq!(check_static_executable(&ok), Ok(()));
            assert_eq!(
                check_static_executable(&crate::process::samples::static_echo_elf()),
                Ok(())
            );
        }
    }
}
