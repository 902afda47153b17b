//! Shared by the decoders' unit tests: the captured Windows bytes in `fixtures/*.hex`
//! (whitespace-separated hex, see `fixtures/README.md`).

/// Parses a whitespace-separated hex dump; panics on a bad byte (fixtures are ours).
pub fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("fixture hex"))
        .collect()
}
