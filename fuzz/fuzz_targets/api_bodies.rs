//! Fuzz target: `iorelay::fuzz_logic::api_bodies` must not panic, whatever the bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iorelay::fuzz_logic::api_bodies(data));
