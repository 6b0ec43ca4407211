//! Fuzz target: `iorelay::fuzz_logic::namespace_connect` must not panic, whatever the bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iorelay::fuzz_logic::namespace_connect(data));
