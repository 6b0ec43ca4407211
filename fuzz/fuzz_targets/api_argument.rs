//! Fuzz target: `iorelay::fuzz_logic::api_argument` must not panic, whatever the bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iorelay::fuzz_logic::api_argument(data));
