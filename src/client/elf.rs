//! What an ELF binary or shared library says about its dynamic linking, read without running
//! it (System V gABI, "Dynamic Section"; `elf(5)`), and the dynamic loader's cache listing
//! (`ldconfig -p`). Pure: bytes and text in, facts out. Used by [`super::local`] to find the
//! FreeRDP and OpenSSL libraries a FreeRDP client links.
//!
//! The dynamic section is found through the section headers (`SHT_DYNAMIC` and its linked
//! string table), as every distribution's binaries have them; a binary stripped of its
//! section headers reads as having no dynamic section. Parsing is done by the `object` crate
//! (bounds-checked, no panics on malformed input).

use std::fmt;

use object::Endianness;
use object::read::elf::{Dyn, FileHeader};

/// gABI dynamic tags used here.
const DT_NULL: i32 = 0;
const DT_NEEDED: i32 = 1;
const DT_SONAME: i32 = 14;
const DT_RPATH: i32 = 15;
const DT_RUNPATH: i32 = 29;

/// At most this many `DT_NEEDED` entries are kept (xfreerdp has 13).
pub const MAX_NEEDED: usize = 256;

/// The dynamic-linking facts of one ELF file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElfDynamic {
    /// ELFCLASS64 (else ELFCLASS32).
    pub is_64: bool,
    /// `e_machine` (62 = x86-64, 183 = AArch64): a library must match its binary.
    pub machine: u16,
    /// `DT_NEEDED`: the shared objects it links, by name (`libfreerdp2.so.2`), in order.
    pub needed: Vec<String>,
    /// `DT_SONAME`, for a library.
    pub soname: Option<String>,
    /// `DT_RUNPATH` and `DT_RPATH` entries (`:`-separated in the file), unexpanded
    /// (`$ORIGIN/../lib`).
    pub runpath: Vec<String>,
    pub rpath: Vec<String>,
}

/// Why a file gives no dynamic-linking facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// It does not start with `\x7fELF` (a script, a wrapper, ...).
    NotElf,
    /// An `EI_CLASS` other than 1 (32-bit) or 2 (64-bit).
    UnknownClass(u8),
    /// The headers or the dynamic section are out of bounds or inconsistent.
    Malformed(String),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => write!(f, "not an ELF file"),
            ElfError::UnknownClass(c) => write!(f, "unknown ELF class {c}"),
            ElfError::Malformed(e) => write!(f, "malformed ELF file: {e}"),
        }
    }
}

impl std::error::Error for ElfError {}

/// Reads the dynamic section of an ELF file (the whole file in `data`). A static binary (no
/// `SHT_DYNAMIC`) gives empty lists.
pub fn parse_dynamic(data: &[u8]) -> Result<ElfDynamic, ElfError> {
    if data.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(ElfError::NotElf);
    }
    let result = match data.get(4) {
        Some(1) => parse_with::<object::elf::FileHeader32<Endianness>>(data),
        Some(2) => parse_with::<object::elf::FileHeader64<Endianness>>(data),
        Some(other) => return Err(ElfError::UnknownClass(*other)),
        None => return Err(ElfError::NotElf),
    };
    result.map_err(|e| ElfError::Malformed(e.to_string()))
}

fn parse_with<H: FileHeader<Endian = Endianness>>(data: &[u8]) -> object::read::Result<ElfDynamic> {
    let header = H::parse(data)?;
    let endian = header.endian()?;
    let mut out = ElfDynamic {
        is_64: header.is_type_64(),
        machine: header.e_machine(endian).0,
        ..ElfDynamic::default()
    };
    let sections = header.sections(endian, data)?;
    let Some((entries, link)) = sections.dynamic(endian, data)? else {
        return Ok(out);
    };
    let strings = sections.strings(endian, data, link)?;
    for entry in entries {
        let Some(tag) = entry.tag32(endian) else {
            continue;
        };
        if tag == DT_NULL {
            break;
        }
        if !matches!(tag, DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH) {
            continue;
        }
        let text = String::from_utf8_lossy(entry.string(endian, strings)?).into_owned();
        match tag {
            DT_NEEDED if out.needed.len() < MAX_NEEDED => out.needed.push(text),
            DT_SONAME => out.soname = Some(text),
            DT_RPATH => out.rpath.extend(split_path_list(&text)),
            DT_RUNPATH => out.runpath.extend(split_path_list(&text)),
            _ => {}
        }
    }
    Ok(out)
}

fn split_path_list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(':').filter(|p| !p.is_empty()).map(str::to_owned)
}

/// The entries of `ldconfig -p` output (glibc): `(soname, path)` from lines like
/// `\tlibfreerdp2.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libfreerdp2.so.2`, in order;
/// the header (`1234 libs found in cache ...`) and trailer lines are skipped. Several entries
/// may share a name (one per architecture): the caller checks each file.
pub fn parse_ldconfig_listing(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (left, path) = line.split_once(" => ")?;
            let name = left.trim().split(" (").next()?.trim();
            let path = path.trim();
            (!name.is_empty() && !name.contains(char::is_whitespace) && path.starts_with('/'))
                .then(|| (name.to_owned(), path.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal little-endian ELF64 shared library for x86-64: ELF header, a `.dynstr`, a
    /// `.dynamic` (`DT_NEEDED` x2, `DT_SONAME`, `DT_RUNPATH`, `DT_NULL`) and three section
    /// headers (null, dynstr, dynamic), laid out as `ld` would.
    fn tiny_library() -> Vec<u8> {
        let dynstr: &[u8] =
            b"\0libssl.so.3\0libwinpr2.so.2\0libfreerdp2.so.2\0$ORIGIN/../lib:/opt/x\0";
        let off = |s: &str| {
            dynstr
                .windows(s.len())
                .position(|w| w == s.as_bytes())
                .unwrap() as u64
        };
        let dynamic: Vec<(u64, u64)> = vec![
            (1, off("libssl.so.3")),
            (1, off("libwinpr2.so.2")),
            (14, off("libfreerdp2.so.2")),
            (29, off("$ORIGIN/../lib")),
            (0, 0),
        ];
        let dynstr_off = 64u64;
        let dynamic_off = (dynstr_off + dynstr.len() as u64).next_multiple_of(8);
        let dynamic_len = dynamic.len() as u64 * 16;
        let shoff = dynamic_off + dynamic_len;
        let mut f = Vec::new();
        // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, System V ABI, padding.
        f.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&3u16.to_le_bytes()); // e_type ET_DYN
        f.extend_from_slice(&62u16.to_le_bytes()); // e_machine EM_X86_64
        f.extend_from_slice(&1u32.to_le_bytes()); // e_version
        f.extend_from_slice(&0u64.to_le_bytes()); // e_entry
        f.extend_from_slice(&0u64.to_le_bytes()); // e_phoff
        f.extend_from_slice(&shoff.to_le_bytes()); // e_shoff
        f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        f.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
        f.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
        f.extend_from_slice(&0u16.to_le_bytes()); // e_phnum
        f.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
        f.extend_from_slice(&3u16.to_le_bytes()); // e_shnum
        f.extend_from_slice(&1u16.to_le_bytes()); // e_shstrndx: section names in .dynstr (all "")
        assert_eq!(f.len(), 64);
        f.extend_from_slice(dynstr);
        f.resize(dynamic_off as usize, 0);
        for (tag, val) in &dynamic {
            f.extend_from_slice(&tag.to_le_bytes());
            f.extend_from_slice(&val.to_le_bytes());
        }
        let section = |f: &mut Vec<u8>, typ: u32, off: u64, size: u64, link: u32, ent: u64| {
            f.extend_from_slice(&0u32.to_le_bytes()); // sh_name
            f.extend_from_slice(&typ.to_le_bytes());
            f.extend_from_slice(&0u64.to_le_bytes()); // sh_flags
            f.extend_from_slice(&0u64.to_le_bytes()); // sh_addr
            f.extend_from_slice(&off.to_le_bytes());
            f.extend_from_slice(&size.to_le_bytes());
            f.extend_from_slice(&link.to_le_bytes());
            f.extend_from_slice(&0u32.to_le_bytes()); // sh_info
            f.extend_from_slice(&8u64.to_le_bytes()); // sh_addralign
            f.extend_from_slice(&ent.to_le_bytes());
        };
        section(&mut f, 0, 0, 0, 0, 0);
        section(&mut f, 3, dynstr_off, dynstr.len() as u64, 0, 0); // SHT_STRTAB
        section(&mut f, 6, dynamic_off, dynamic_len, 1, 16); // SHT_DYNAMIC -> section 1
        f
    }

    #[test]
    fn reads_needed_soname_and_runpath() {
        let d = parse_dynamic(&tiny_library()).unwrap();
        assert!(d.is_64);
        assert_eq!(d.machine, 62);
        assert_eq!(d.needed, vec!["libssl.so.3", "libwinpr2.so.2"]);
        assert_eq!(d.soname.as_deref(), Some("libfreerdp2.so.2"));
        assert_eq!(d.runpath, vec!["$ORIGIN/../lib", "/opt/x"]);
        assert!(d.rpath.is_empty());
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let full = tiny_library();
        for len in 0..full.len() {
            let prefix = full.get(..len).unwrap();
            // Short prefixes are not ELF at all; longer ones lose the section headers or the
            // dynamic section.
            assert!(parse_dynamic(prefix).is_err(), "prefix of {len} bytes");
        }
        // Every single byte flipped: any result but a panic.
        for i in 0..full.len() {
            let mut bad = full.clone();
            bad[i] ^= 0xff;
            let _ = parse_dynamic(&bad);
        }
    }

    #[test]
    fn not_elf() {
        assert_eq!(
            parse_dynamic(b"#!/bin/sh\nexec xfreerdp \"$@\"\n"),
            Err(ElfError::NotElf)
        );
        assert_eq!(parse_dynamic(b""), Err(ElfError::NotElf));
        assert_eq!(
            parse_dynamic(b"\x7fELF\x03\x01\x01"),
            Err(ElfError::UnknownClass(3))
        );
    }

    /// Lines of `/sbin/ldconfig -p` captured on Debian 12 (glibc 2.36), with NSS's
    /// `libssl3.so` next to OpenSSL's `libssl.so.3`.
    #[test]
    fn ldconfig_listing() {
        let text = "674 libs found in cache `/etc/ld.so.cache'\n\
\tlibwinpr2.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libwinpr2.so.2\n\
\tlibssl3.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl3.so\n\
\tlibssl.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so.3\n\
\tlibfreerdp2.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libfreerdp2.so.2\n\
\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6\n\
Cache generated by: ldconfig (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36\n";
        let entries = parse_ldconfig_listing(text);
        assert_eq!(entries.len(), 5);
        assert_eq!(
            entries.get(3),
            Some(&(
                "libfreerdp2.so.2".to_owned(),
                "/lib/x86_64-linux-gnu/libfreerdp2.so.2".to_owned()
            ))
        );
        assert!(parse_ldconfig_listing("garbage => relative/path\n => /x\n").is_empty());
    }
}
