//! libFuzzer entry for `devnet_rpc`; the property lives in `ain_sre_fuzz::devnet_rpc` (fuzz/src/rpc.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ain_sre_fuzz::devnet_rpc(data));
