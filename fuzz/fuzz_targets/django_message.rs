//! Fuzz target: `iorelay::fuzz_logic::django_message` must not panic, whatever the bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iorelay::fuzz_logic::django_message(data));
