//! libFuzzer entry for `rule_parse`; the property lives in `ain_sre_fuzz::rule_parse` (fuzz/src/rules.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ain_sre_fuzz::rule_parse(data));
