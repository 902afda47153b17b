//! The `local` profile: the machine running rdpsweep.
//!
//! - Windows: the registry values of [`super::registry`], read live (`client::windows`, Windows only) and
//!   interpreted by the same pure code as a `.reg` export.
//! - Elsewhere: the installed FreeRDP client (first of [`FREERDP_BINARIES`] on `PATH`,
//!   `--version`) and `openssl version` ([`super::freerdp`]); without FreeRDP the profile is
//!   `unknown`, and its notes say so.

use super::profile::ClientProfile;

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

#[cfg(not(windows))]
fn freerdp_local(name: &str) -> ClientProfile {
    for bin in FREERDP_BINARIES {
        let Some(out) = run_version(bin, &["--version"]) else {
            continue;
        };
        if let Some(v) = super::freerdp::parse_freerdp_version(&out) {
            let openssl = run_version("openssl", &["version"])
                .and_then(|o| super::freerdp::parse_openssl_major(&o));
            let mut p = super::freerdp::freerdp_profile(name, bin, &v, openssl);
            if openssl.is_some() {
                p.notes.push(
                    "OpenSSL version from the `openssl` command, assumed to be the library FreeRDP uses".to_owned(),
                );
            }
            return p;
        }
    }
    let mut p = ClientProfile::unknown(name, "local");
    p.notes.push(format!(
        "no FreeRDP client found on PATH (looked for {}): the local client is unknown; describe it with --client-state or choose built-in profiles",
        FREERDP_BINARIES.join(", ")
    ));
    p
}

/// Runs `program args` with a 5-second limit and returns its standard output (and error,
/// where some versions print), or `None` when it is missing, fails to start or hangs.
#[cfg(not(windows))]
fn run_version(program: &str, args: &[&str]) -> Option<String> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut text = String::new();
    // Version output is short; bound what is read anyway.
    if let Some(out) = child.stdout.take() {
        let _ = out.take(64 * 1024).read_to_string(&mut text);
    }
    if let Some(err) = child.stderr.take() {
        let _ = err.take(64 * 1024).read_to_string(&mut text);
    }
    Some(text)
}
