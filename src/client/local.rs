//! The `local` profile: the machine running rdpsweep.
//!
//! - Windows: the registry values of [`super::registry`], read live (`client::windows`, Windows only) and
//!   interpreted by the same pure code as a `.reg` export.
//! - Elsewhere: the installed FreeRDP client, the first of [`FREERDP_BINARIES`] found on `PATH`
//!   (absolute `PATH` entries only), described by [`super::freerdp`]. Its version is read
//!   without needing a display, by the first of these that gives one:
//!   1. `BINARY --version` (5-second limit, the environment as it is: FreeRDP 3 and the
//!      Wayland/SDL clients print it anywhere; Debian's X11 `xfreerdp` 2.x only with a
//!      reachable `DISPLAY`, and otherwise prints "failed to open display");
//!   2. the file name of the FreeRDP library the binary links (ELF `DT_NEEDED`
//!      `libfreerdp2.so.2`, found as the dynamic loader would: `DT_RPATH`, `LD_LIBRARY_PATH`,
//!      `DT_RUNPATH`, `ldconfig -p`, the default folders; its real file is
//!      `libfreerdp2.so.2.11.7`); nothing is run but `ldconfig -p`;
//!   3. the package database: `dpkg-query -S` on the binary's real path, then
//!      `dpkg-query -W -f='${Version}'` on its package (Debian and derivatives).
//!
//!   The OpenSSL major version is that of the `libssl.so.N` the client or its FreeRDP/WinPR
//!   libraries link (`DT_NEEDED`), else `openssl version` (assumed to be the same library).
//!   A binary that is there but whose version none of these reads gives a FreeRDP profile
//!   with an unknown version whose note lists what was tried; only when no binary is on
//!   `PATH` is the profile `unknown`.
//!
//! Process output and files are read with bounds (64 KiB of output, 64 MiB per ELF file),
//! and every process gets 5 seconds.

use super::profile::{ClientKind, ClientProfile};

/// FreeRDP client programs looked for on `PATH`, in order.
pub const FREERDP_BINARIES: &[&str] = &[
    "xfreerdp3",
    "xfreerdp",
    "wlfreerdp3",
    "wlfreerdp",
    "sdl-freerdp3",
    "sdl-freerdp",
];

/// The local client profile, named `name`.
pub fn local_profile(name: &str) -> ClientProfile {
    #[cfg(windows)]
    {
        let snap = super::windows::read_local_registry();
        super::registry::interpret(&snap, name, "local registry")
    }
    #[cfg(not(windows))]
    {
        freerdp_local(name)
    }
}

/// Whether a default client set leaves `local` out: `Some(note)` (to print once on standard
/// error) when nothing is known about the local client (kind `unknown`, e.g. Linux without
/// any FreeRDP client) and the set has other profiles, so the default matrix does not fill a
/// column with `unknown:client-unknown`. `None` keeps it: something is known, or `local` is
/// the whole set (`rdpsweep client` describes the local client, known or not). A `local`
/// named on the command line is never passed here: the user asked for it.
pub fn default_set_drop_note(local: &ClientProfile, default_set: &[&str]) -> Option<String> {
    if local.kind != ClientKind::Unknown || default_set.len() < 2 {
        return None;
    }
    let why = local
        .notes
        .first()
        .map_or("nothing is known about it", String::as_str);
    let set = default_set.join(",");
    let mut note = format!("leaving `local` out of the default clients ({set}): {why}");
    if !why.contains("--client-state") {
        note.push_str("; describe this machine's client with --client-state [NAME=]FILE");
    }
    note.push_str(&format!(
        ". `--client-profile {set}` keeps it as an unknown column"
    ));
    Some(note)
}

#[cfg(not(windows))]
fn freerdp_local(name: &str) -> ClientProfile {
    use super::freerdp;

    let found: Vec<(&str, std::path::PathBuf)> = FREERDP_BINARIES
        .iter()
        .filter_map(|bin| detect::find_on_path(bin).map(|p| (*bin, p)))
        .collect();
    let Some((first_bin, first_path)) = found.first() else {
        let mut p = ClientProfile::unknown(name, "local");
        p.notes.push(format!(
            "no FreeRDP client found on PATH (looked for {}): the local client is unknown; describe it with --client-state or choose built-in profiles",
            FREERDP_BINARIES.join(", ")
        ));
        return p;
    };
    let mut tried_all = Vec::new();
    let mut first_openssl = None;
    for (bin, path) in &found {
        let seen = detect::inspect(path);
        if first_openssl.is_none() {
            first_openssl = Some(seen.openssl.clone());
        }
        let Some((version, how)) = seen.version else {
            tried_all.extend(seen.tried);
            continue;
        };
        let mut p =
            freerdp::freerdp_profile(name, bin, &version, seen.openssl.as_ref().map(|o| o.0));
        let mut note = format!("version {} from {how}", version.text);
        if !seen.tried.is_empty() {
            note.push_str(&format!(" (before that: {})", seen.tried.join("; ")));
        }
        let at = p.notes.len().min(1);
        p.notes.insert(at, note);
        if let Some((_, how)) = seen.openssl {
            p.notes.push(how);
        }
        return p;
    }
    let openssl = first_openssl.flatten();
    let mut p = freerdp::freerdp_profile_unversioned(
        name,
        &format!("{first_bin} ({})", first_path.display()),
        openssl.as_ref().map(|o| o.0),
        &tried_all,
    );
    p.source = format!("local {first_bin}");
    if let Some((_, how)) = openssl {
        p.notes.push(how);
    }
    p
}

/// Finding the FreeRDP binary and reading its version and OpenSSL without a display.
#[cfg(not(windows))]
mod detect {
    use std::ffi::OsStr;
    use std::io::Read;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use crate::client::elf::{self, ElfDynamic};
    use crate::client::freerdp::{self, FreerdpVersion};

    /// Time limit of every process run here.
    const PROCESS_LIMIT: Duration = Duration::from_secs(5);
    /// Bytes read from a process's standard output and error, each.
    const OUTPUT_LIMIT: u64 = 64 * 1024;
    /// Largest ELF file read (Debian 12: xfreerdp 675 KiB, libfreerdp2 1.5 MiB).
    const ELF_LIMIT: u64 = 64 * 1024 * 1024;
    /// Where `ldconfig` lives (not on a non-root `PATH` on Debian).
    const LDCONFIG: &[&str] = &["/sbin/ldconfig", "/usr/sbin/ldconfig"];

    /// What was learnt about one installed binary.
    pub struct Inspection {
        /// The version and how it was read.
        pub version: Option<(FreerdpVersion, String)>,
        /// Each way that gave no version, and why.
        pub tried: Vec<String>,
        /// The OpenSSL major version and a note saying where it comes from.
        pub openssl: Option<(u32, String)>,
    }

    /// The first executable `name` in an absolute `PATH` entry.
    pub fn find_on_path(name: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    }

    fn is_executable(path: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            meta.is_file() && meta.permissions().mode() & 0o111 != 0
        }
        #[cfg(not(unix))]
        {
            meta.is_file()
        }
    }

    /// Reads the version and OpenSSL of the client at `path` (found on `PATH`).
    pub fn inspect(path: &Path) -> Inspection {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut tried = Vec::new();
        let mut version = None;

        // 1. The client's own word.
        let shown = format!("`{} --version`", path.display());
        match run(path.as_os_str(), &["--version"]) {
            Ok(out) => match freerdp::parse_freerdp_version(&out) {
                Some(v) => version = Some((v, shown.clone())),
                None => tried.push(format!("{shown} printed no version ({})", excerpt(&out))),
            },
            Err(e) => tried.push(format!("{shown} {e}")),
        }

        // 2. The libraries it links (also where OpenSSL comes from).
        let mut openssl = None;
        match read_elf(&real) {
            Ok(dynamic) => {
                let linked = Linked::resolve(&real, &dynamic);
                if version.is_none() {
                    match linked.version() {
                        Ok(found) => version = Some(found),
                        Err(why) => tried.push(why),
                    }
                }
                openssl = linked.openssl();
            }
            Err(e) => {
                if version.is_none() {
                    tried.push(format!("reading {} as ELF: {e}", real.display()));
                }
            }
        }

        // 3. The package database.
        if version.is_none() {
            match dpkg_version(&real) {
                Ok(found) => version = Some(found),
                Err(why) => tried.push(why),
            }
        }

        if openssl.is_none() {
            openssl = run(OsStr::new("openssl"), &["version"])
                .ok()
                .and_then(|o| freerdp::parse_openssl_major(&o))
                .map(|m| {
                    (
                        m,
                        "OpenSSL version from the `openssl` command, assumed to be the library FreeRDP uses".to_owned(),
                    )
                });
        }
        Inspection {
            version,
            tried,
            openssl,
        }
    }

    /// The FreeRDP and WinPR libraries a binary links, found on disk.
    struct Linked {
        binary: PathBuf,
        dynamic: ElfDynamic,
        /// (DT_NEEDED name, real path, its dynamic section) of each FreeRDP/WinPR library
        /// found; names not found are listed in `missing`.
        found: Vec<(String, PathBuf, ElfDynamic)>,
        missing: Vec<String>,
    }

    impl Linked {
        fn resolve(binary: &Path, dynamic: &ElfDynamic) -> Self {
            let mut search = Search::new(binary, dynamic);
            let mut found = Vec::new();
            let mut missing = Vec::new();
            let wanted: Vec<&String> = dynamic
                .needed
                .iter()
                .filter(|n| freerdp::is_freerdp_library(n) || n.starts_with("libwinpr"))
                .collect();
            for name in wanted {
                match search.find(name) {
                    Some((path, lib)) => found.push((name.clone(), path, lib)),
                    None => missing.push(name.clone()),
                }
            }
            // WinPR is linked by libfreerdp, not always by the binary itself.
            let indirect: Vec<String> = found
                .iter()
                .flat_map(|(_, _, lib)| lib.needed.iter())
                .filter(|n| n.starts_with("libwinpr"))
                .filter(|n| !found.iter().any(|(have, _, _)| have == *n))
                .cloned()
                .collect();
            for name in indirect {
                if found.iter().any(|(have, _, _)| *have == name) {
                    continue;
                }
                if let Some((path, lib)) = search.find(&name) {
                    found.push((name, path, lib));
                }
            }
            Self {
                binary: binary.to_path_buf(),
                dynamic: dynamic.clone(),
                found,
                missing,
            }
        }

        /// The version in the real file name of the FreeRDP core library (else any FreeRDP
        /// library), or why there is none.
        fn version(&self) -> Result<(FreerdpVersion, String), String> {
            let freerdp_libs: Vec<&(String, PathBuf, ElfDynamic)> = self
                .found
                .iter()
                .filter(|(n, _, _)| freerdp::is_freerdp_library(n))
                .collect();
            let ordered = freerdp_libs
                .iter()
                .filter(|(n, _, _)| freerdp::is_freerdp_core_library(n))
                .chain(
                    freerdp_libs
                        .iter()
                        .filter(|(n, _, _)| !freerdp::is_freerdp_core_library(n)),
                );
            for (name, path, _) in ordered {
                let file = path.file_name().and_then(OsStr::to_str).unwrap_or_default();
                if let Some(v) = freerdp::parse_library_file_version(file) {
                    return Ok((
                        v,
                        format!(
                            "the file name of the FreeRDP library it links ({name} -> {})",
                            path.display()
                        ),
                    ));
                }
            }
            let names: Vec<&String> = self
                .dynamic
                .needed
                .iter()
                .filter(|n| freerdp::is_freerdp_library(n))
                .collect();
            if names.is_empty() {
                return Err(format!(
                    "{} links no libfreerdp library (DT_NEEDED; built statically?)",
                    self.binary.display()
                ));
            }
            let shown: Vec<String> = freerdp_libs
                .iter()
                .map(|(n, p, _)| format!("{n} -> {}", p.display()))
                .chain(
                    self.missing
                        .iter()
                        .filter(|n| freerdp::is_freerdp_library(n))
                        .map(|n| format!("{n}: no such library where the loader looks")),
                )
                .collect();
            Err(format!(
                "the FreeRDP libraries it links carry no version in their file names ({})",
                shown.join(", ")
            ))
        }

        /// OpenSSL from `libssl.so.N` in the DT_NEEDED of the binary, then of its FreeRDP and
        /// WinPR libraries.
        fn openssl(&self) -> Option<(u32, String)> {
            let own = std::iter::once((self.binary.as_path(), &self.dynamic));
            let libs = self.found.iter().map(|(_, p, d)| (p.as_path(), d));
            for (file, dynamic) in own.chain(libs) {
                for name in &dynamic.needed {
                    if let Some(m) = freerdp::openssl_major_from_soname(name) {
                        return Some((
                            m,
                            format!(
                                "OpenSSL {m} from the library the client links ({name}, needed by {})",
                                file.display()
                            ),
                        ));
                    }
                }
            }
            None
        }
    }

    /// Where the dynamic loader looks for a library (ld.so(8)): DT_RPATH (when there is no
    /// DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH, the `ldconfig -p` cache, the default folders.
    struct Search {
        before_cache: Vec<PathBuf>,
        cache: Option<Vec<(String, PathBuf)>>,
        defaults: Vec<PathBuf>,
        is_64: bool,
        machine: u16,
    }

    impl Search {
        fn new(binary: &Path, dynamic: &ElfDynamic) -> Self {
            let origin = binary.parent().unwrap_or(Path::new("/"));
            let expand = |entries: &[String]| -> Vec<PathBuf> {
                entries
                    .iter()
                    .filter_map(|e| {
                        let e = e
                            .replace("${ORIGIN}", &origin.to_string_lossy())
                            .replace("$ORIGIN", &origin.to_string_lossy());
                        (!e.contains('$') && e.starts_with('/')).then(|| PathBuf::from(e))
                    })
                    .collect()
            };
            let mut before_cache = Vec::new();
            if dynamic.runpath.is_empty() {
                before_cache.extend(expand(&dynamic.rpath));
            }
            if let Some(paths) = std::env::var_os("LD_LIBRARY_PATH") {
                before_cache.extend(std::env::split_paths(&paths).filter(|p| p.is_absolute()));
            }
            before_cache.extend(expand(&dynamic.runpath));
            let triple = match std::env::consts::ARCH {
                "x86_64" => "x86_64-linux-gnu",
                "x86" => "i386-linux-gnu",
                "aarch64" => "aarch64-linux-gnu",
                "arm" => "arm-linux-gnueabihf",
                "riscv64" => "riscv64-linux-gnu",
                "powerpc64" => "powerpc64le-linux-gnu",
                "s390x" => "s390x-linux-gnu",
                other => other,
            };
            let defaults = [
                format!("/lib/{triple}"),
                format!("/usr/lib/{triple}"),
                "/lib64".to_owned(),
                "/usr/lib64".to_owned(),
                "/lib".to_owned(),
                "/usr/lib".to_owned(),
                "/usr/local/lib".to_owned(),
            ]
            .into_iter()
            .map(PathBuf::from)
            .collect();
            Self {
                before_cache,
                cache: None,
                defaults,
                is_64: dynamic.is_64,
                machine: dynamic.machine,
            }
        }

        fn cache(&mut self) -> &[(String, PathBuf)] {
            self.cache.get_or_insert_with(|| {
                LDCONFIG
                    .iter()
                    .find(|p| Path::new(p).is_file())
                    .and_then(|p| run(OsStr::new(p), &["-p"]).ok())
                    .map(|text| {
                        elf::parse_ldconfig_listing(&text)
                            .into_iter()
                            .map(|(n, p)| (n, PathBuf::from(p)))
                            .collect()
                    })
                    .unwrap_or_default()
            })
        }

        /// The first file named `soname` where the loader would look that is an ELF library
        /// of the binary's class and machine: its real path and dynamic section.
        fn find(&mut self, soname: &str) -> Option<(PathBuf, ElfDynamic)> {
            if soname.contains('/') {
                return None;
            }
            let mut candidates: Vec<PathBuf> =
                self.before_cache.iter().map(|d| d.join(soname)).collect();
            candidates.extend(
                self.cache()
                    .iter()
                    .filter(|(n, _)| n == soname)
                    .map(|(_, p)| p.clone()),
            );
            candidates.extend(self.defaults.iter().map(|d| d.join(soname)));
            candidates.into_iter().find_map(|c| {
                if !c.is_file() {
                    return None;
                }
                let real = std::fs::canonicalize(&c).ok()?;
                let lib = read_elf(&real).ok()?;
                (lib.is_64 == self.is_64 && lib.machine == self.machine).then_some((real, lib))
            })
        }
    }

    /// The dynamic section of the ELF file at `path`, read whole up to [`ELF_LIMIT`].
    fn read_elf(path: &Path) -> Result<ElfDynamic, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
        let mut data = Vec::new();
        file.take(ELF_LIMIT + 1)
            .read_to_end(&mut data)
            .map_err(|e| format!("cannot read it: {e}"))?;
        if data.len() as u64 > ELF_LIMIT {
            return Err(format!("larger than {} MiB", ELF_LIMIT / (1024 * 1024)));
        }
        elf::parse_dynamic(&data).map_err(|e| e.to_string())
    }

    /// The version of the Debian package that owns `real`.
    fn dpkg_version(real: &Path) -> Result<(FreerdpVersion, String), String> {
        let Some(path) = real.to_str() else {
            return Err(format!("dpkg-query: {} is not UTF-8", real.display()));
        };
        let owners = run(OsStr::new("dpkg-query"), &["-S", path])
            .map_err(|e| format!("`dpkg-query -S {path}` {e}"))?;
        let packages = freerdp::parse_dpkg_owners(&owners, path);
        let Some(package) = packages.first() else {
            return Err(format!(
                "dpkg-query: no package owns {path} ({})",
                excerpt(&owners)
            ));
        };
        let text = run(
            OsStr::new("dpkg-query"),
            &["-W", "-f=${Version}", package.as_str()],
        )
        .map_err(|e| format!("`dpkg-query -W {package}` {e}"))?;
        match freerdp::parse_dpkg_version(&text) {
            Some(v) => Ok((
                v,
                format!(
                    "the package database ({path} belongs to {package} {})",
                    text.trim()
                ),
            )),
            None => Err(format!(
                "dpkg-query: the version of {package} is not a FreeRDP version ({})",
                excerpt(&text)
            )),
        }
    }

    /// A short, printable excerpt of a program's output for a note: its first non-empty line,
    /// without FreeRDP's log prefix (`[time] [pid:tid] [LEVEL][channel] - `).
    fn excerpt(out: &str) -> String {
        let Some(line) = out.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return "no output".to_owned();
        };
        let message = line.rsplit_once("] - ").map_or(line, |(_, m)| m).trim();
        let clean: String = message
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect();
        format!("\"{clean}\"")
    }

    /// Runs `program args` with [`PROCESS_LIMIT`], no standard input and the environment as it
    /// is, and returns its standard output followed by its standard error (some versions
    /// print there), at most [`OUTPUT_LIMIT`] bytes of each. `Err` says why there is none, in
    /// words that follow the command in a note.
    fn run(program: &OsStr, args: &[&str]) -> Result<String, String> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "could not be run (the program or its interpreter is missing)".to_owned()
                }
                _ => format!("could not be run ({e})"),
            })?;
        let deadline = Instant::now() + PROCESS_LIMIT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "did not finish within {} s",
                        PROCESS_LIMIT.as_secs()
                    ));
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("could not be waited for ({e})"));
                }
            }
        }
        let mut text = String::new();
        if let Some(out) = child.stdout.take() {
            let mut bytes = Vec::new();
            let _ = out.take(OUTPUT_LIMIT).read_to_end(&mut bytes);
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        if let Some(err) = child.stderr.take() {
            let mut bytes = Vec::new();
            let _ = err.take(OUTPUT_LIMIT).read_to_end(&mut bytes);
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_drops_only_an_unknown_local_among_others() {
        let mut unknown = ClientProfile::unknown("local", "local");
        unknown
            .notes
            .push("no FreeRDP client found on PATH (looked for xfreerdp)".to_owned());
        let set = ["local", "patched-mitigated", "unpatched"];
        let note = default_set_drop_note(&unknown, &set).unwrap();
        assert!(note.contains("no FreeRDP client found on PATH"), "{note}");
        assert!(note.contains("--client-state"), "{note}");
        assert!(
            note.contains("--client-profile local,patched-mitigated,unpatched"),
            "{note}"
        );
        assert_eq!(note.matches("--client-state").count(), 1, "{note}");
        // `local` alone (the `client` subcommand) stays.
        assert_eq!(default_set_drop_note(&unknown, &["local"]), None);
        // Anything known stays.
        let mut freerdp = unknown.clone();
        freerdp.kind = ClientKind::Freerdp;
        assert_eq!(default_set_drop_note(&freerdp, &set), None);
        let mut windows = unknown;
        windows.kind = ClientKind::Windows;
        assert_eq!(default_set_drop_note(&windows, &set), None);
    }
}
