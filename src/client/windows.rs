//! Reading the local Windows registry (compiled only on Windows). The values are turned into a
//! [`RegistrySnapshot`] and interpreted by the pure [`super::registry::interpret`]; a missing
//! key or value is recorded as absent (the OS default), never an error. A key that cannot be
//! read for another reason (access denied) stays "not covered", which the interpretation
//! reports as unknown.

use winreg::RegKey;
use winreg::enums::{HKEY_LOCAL_MACHINE, KEY_READ, KEY_WOW64_64KEY};

use super::registry::{
    ALLOW_ENCRYPTION_ORACLE, CREDSSP_PARAMETERS, CURRENT_VERSION, RegistrySnapshot, TS_POLICIES,
    schannel_client_key, value_from_raw,
};
use crate::proto::tls::ProtocolVersion;

fn read_key(snap: &mut RegistrySnapshot, hklm: &RegKey, path: &str, names: &[&str]) {
    let sub = path.strip_prefix(r"HKLM\").unwrap_or(path);
    match hklm.open_subkey_with_flags(sub, KEY_READ | KEY_WOW64_64KEY) {
        Ok(key) => {
            snap.add_key(path);
            for name in names {
                match key.get_raw_value(name) {
                    Ok(raw) => {
                        let code = raw.vtype.clone() as u32;
                        snap.set_value(path, name, value_from_raw(code, &raw.bytes));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!("cannot read {path}\\{name}: {e}");
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => snap.mark_key_missing(path),
        Err(e) => tracing::warn!("cannot open {path}: {e}"),
    }
}

/// Reads the values rdpsweep needs from HKLM.
pub fn read_local_registry() -> RegistrySnapshot {
    let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
    let mut snap = RegistrySnapshot::new();
    read_key(
        &mut snap,
        &hklm,
        CREDSSP_PARAMETERS,
        &[ALLOW_ENCRYPTION_ORACLE],
    );
    read_key(
        &mut snap,
        &hklm,
        CURRENT_VERSION,
        &["CurrentBuild", "CurrentBuildNumber", "UBR", "ProductName"],
    );
    read_key(&mut snap, &hklm, TS_POLICIES, &["AuthenticationLevel"]);
    for v in ProtocolVersion::TLS {
        read_key(
            &mut snap,
            &hklm,
            &schannel_client_key(v),
            &["Enabled", "DisabledByDefault"],
        );
    }
    snap
}
