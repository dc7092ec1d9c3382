//! libFuzzer entry for `config_load`; the property lives in `ain_sre_fuzz::config_load` (fuzz/src/config.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ain_sre_fuzz::config_load(data));
