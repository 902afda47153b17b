#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rdpsweep_fuzz::saved_scan(data));
