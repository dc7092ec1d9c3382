//! libFuzzer entry for `event_frame`; the property lives in `ain_sre_fuzz::event_frame` (fuzz/src/events.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ain_sre_fuzz::event_frame(data));
