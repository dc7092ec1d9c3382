//! libFuzzer entry for `tx_verify`; the property lives in `ain_sre_fuzz::tx_verify` (fuzz/src/chain.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ain_sre_fuzz::tx_verify(data));
