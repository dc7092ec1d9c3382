//! Hand-assembled static x86_64 executables: the smallest `native` functions, for the process
//! tier's tests, its benchmark rows and the ELF check (`elf.rs`). Plain byte building: no
//! platform or feature needed.

/// A minimal static x86_64 ELF that writes `message` to stdout and exits 0 (`/bin/true` when
/// `message` is empty): an ELF header, one `PT_LOAD` segment, 33 bytes of code.
pub fn static_elf(message: &[u8]) -> Vec<u8> {
    let mut code = Vec::new();
    code.extend_from_slice(&[0xb8, 1, 0, 0, 0]); // mov eax, 1 (write)
    code.extend_from_slice(&[0xbf, 1, 0, 0, 0]); // mov edi, 1
    code.extend_from_slice(&[0x48, 0x8d, 0x35, 16, 0, 0, 0]); // lea rsi, [rip+16] (message)
    code.push(0xba); // mov edx, len
    code.extend_from_slice(&(message.len() as u32).to_le_bytes());
    code.extend_from_slice(&[0x0f, 0x05]); // syscall
    code.extend_from_slice(&[0xb8, 60, 0, 0, 0]); // mov eax, 60 (exit)
    code.extend_from_slice(&[0x31, 0xff]); // xor edi, edi
    code.extend_from_slice(&[0x0f, 0x05]); // syscall
    code.extend_from_slice(message);
    elf_with_code(&code)
}

/// A minimal static x86_64 ELF that copies one `read` of stdin (up to 4 KB) to stdout and exits
/// 0: the process tier's counterpart of the WASM tier's `echo.wat`, for comparing the two tiers
/// on the same trivial function.
pub fn static_echo_elf() -> Vec<u8> {
    let code = [
        0x48, 0x81, 0xec, 0x00, 0x10, 0x00, 0x00, // sub rsp, 4096 (the buffer)
        0x31, 0xc0, // xor eax, eax (read)
        0x31, 0xff, // xor edi, edi (stdin)
        0x48, 0x89, 0xe6, // mov rsi, rsp
        0xba, 0x00, 0x10, 0x00, 0x00, // mov edx, 4096
        0x0f, 0x05, // syscall
        0x48, 0x89, 0xc2, // mov rdx, rax (bytes read)
        0x48, 0x85, 0xc0, // test rax, rax
        0x7e, 0x0c, // jle exit (nothing read, or an error)
        0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1 (write)
        0xbf, 0x01, 0x00, 0x00, 0x00, // mov edi, 1 (stdout)
        0x0f, 0x05, // syscall
        0xb8, 0x3c, 0x00, 0x00, 0x00, // exit: mov eax, 60
        0x31, 0xff, // xor edi, edi
        0x0f, 0x05, // syscall
    ];
    elf_with_code(&code)
}

/// Wraps position-independent x86_64 `code` in an ELF header and one R+X `PT_LOAD` segment.
fn elf_with_code(code: &[u8]) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    let total = (64 + 56 + code.len()) as u64;
    let mut f = Vec::with_capacity(total as usize);
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f.extend_from_slice(&0x3eu16.to_le_bytes()); // x86_64
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&(BASE + 120).to_le_bytes()); // entry
    f.extend_from_slice(&64u64.to_le_bytes()); // phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 1, 64, 0, 0] {
        f.extend_from_slice(&v.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    f.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    f.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for v in [0, BASE, BASE, total, total, 0x1000] {
        f.extend_from_slice(&v.to_le_bytes()); // offset, vaddr, paddr, filesz, memsz, align
    }
    f.extend_from_slice(code);
    f
}
