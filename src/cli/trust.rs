//! Loading the trust stores a scan judges certificate chains against: the operating system's
//! store and `--ca-file`, read once per scan before any packet is sent. The verdicts themselves
//! are pure (`crate::analysis::trust`).

use std::io;
use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::analysis::trust::{TrustStore, TrustStores};

/// Where the platform trust anchors come from.
#[derive(Debug, Clone, Default)]
pub enum PlatformRoots {
    /// The operating system's store (rustls-native-certs: the Windows store, macOS keychain,
    /// or the OpenSSL directories on Unix, honouring `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    #[default]
    Native,
    /// Do not judge against a platform store.
    Disabled,
    /// These DER certificates (for tests).
    Custom(Vec<Vec<u8>>),
}

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct TrustOptions {
    /// `--ca-file`: a PEM bundle of extra trust anchors (internal PKI, or pinned self-signed
    /// certificates).
    pub ca_file: Option<PathBuf>,
    pub platform_roots: PlatformRoots,
}

/// Why the trust stores could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TrustLoadError {
    #[error("cannot read CA file {}: {source}", path.display())]
    ReadCaFile { path: PathBuf, source: io::Error },
    #[error("CA file {} holds no PEM certificate", path.display())]
    EmptyCaFile { path: PathBuf },
    #[error("CA file {}: {reason}", path.display())]
    BadCaFile { path: PathBuf, reason: String },
}

/// The loaded stores, and the problems met loading the platform store (reported once by the
/// caller; they never stop a scan).
pub fn load_trust_stores(
    opts: &TrustOptions,
) -> Result<(TrustStores, Vec<String>), TrustLoadError> {
    let mut warnings = Vec::new();
    let platform_ders: Option<Vec<Vec<u8>>> = match &opts.platform_roots {
        PlatformRoots::Disabled => None,
        PlatformRoots::Custom(ders) => Some(ders.clone()),
        PlatformRoots::Native => {
            let loaded = rustls_native_certs::load_native_certs();
            warnings.extend(loaded.errors.iter().map(|e| e.to_string()));
            Some(loaded.certs.iter().map(|c| c.as_ref().to_vec()).collect())
        }
    };
    let platform = platform_ders.and_then(|ders| {
        let (store, ignored) = TrustStore::lenient(&ders);
        if ignored > 0 {
            warnings.push(format!(
                "{ignored} platform certificates could not be used as trust anchors"
            ));
        }
        if store.is_none() {
            warnings.push("no platform trust anchors: platform verdicts not given".into());
        }
        store
    });
    let ca_file = match &opts.ca_file {
        None => None,
        Some(path) => Some(load_ca_file(path)?),
    };
    Ok((TrustStores { platform, ca_file }, warnings))
}

fn load_ca_file(path: &Path) -> Result<TrustStore, TrustLoadError> {
    let bytes = std::fs::read(path).map_err(|source| TrustLoadError::ReadCaFile {
        path: path.to_owned(),
        source,
    })?;
    let mut ders = Vec::new();
    for (index, item) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let der = item.map_err(|e| TrustLoadError::BadCaFile {
            path: path.to_owned(),
            reason: format!("PEM block {}: {e}", index + 1),
        })?;
        ders.push(der.as_ref().to_vec());
    }
    if ders.is_empty() {
        return Err(TrustLoadError::EmptyCaFile {
            path: path.to_owned(),
        });
    }
    TrustStore::pinned(&ders).map_err(|(index, e)| TrustLoadError::BadCaFile {
        path: path.to_owned(),
        reason: format!(
            "certificate {} is not a usable trust anchor: {e}",
            index + 1
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_certs::{CertSpec, make_cert, write_pem};
    use openssl::x509::X509;
    use rustls::pki_types::UnixTime;

    /// A `--ca-file` bundle loaded, then chains judged against it (`analysis::trust`).
    #[test]
    fn judge_chain_verdicts_and_pinning() {
        let (ca, ca_key) = make_cert(
            &CertSpec {
                cn: "CA",
                sans: &[],
                ca: true,
                to_days: 3650,
                ..Default::default()
            },
            None,
        );
        let (good, _) = make_cert(&CertSpec::default(), Some((&ca, &ca_key)));
        let (expired, _) = make_cert(
            &CertSpec {
                from_days: -20,
                to_days: -10,
                ..Default::default()
            },
            Some((&ca, &ca_key)),
        );
        let (future, _) = make_cert(
            &CertSpec {
                from_days: 10,
                to_days: 20,
                ..Default::default()
            },
            Some((&ca, &ca_key)),
        );
        // A self-signed certificate with CA:TRUE, as `openssl req -x509` makes them: webpki
        // refuses it as an end entity (CaUsedAsEndEntity); pinning by fingerprint works.
        let (selfsigned, _) = make_cert(
            &CertSpec {
                ca: true,
                ..Default::default()
            },
            None,
        );
        let (old_selfsigned, _) = make_cert(
            &CertSpec {
                ca: true,
                from_days: -20,
                to_days: -1,
                ..Default::default()
            },
            None,
        );

        let dir = tempfile::tempdir().unwrap();
        let bundle = write_pem(&dir, "bundle.pem", &[&ca, &selfsigned, &old_selfsigned]);
        let (c, _) = load_trust_stores(&TrustOptions {
            ca_file: Some(bundle),
            platform_roots: PlatformRoots::Disabled,
        })
        .expect("bundle loads");
        let now = UnixTime::now();
        let der = |c: &X509| c.to_der().unwrap();
        let v = |chain: Vec<Vec<u8>>| c.judge_chain(&chain, now).ca_file.unwrap().to_string();
        assert_eq!(v(vec![der(&good)]), "trusted");
        assert_eq!(v(vec![der(&good), der(&ca)]), "trusted");
        assert_eq!(v(vec![der(&expired)]), "untrusted: expired");
        assert_eq!(v(vec![der(&future)]), "untrusted: not yet valid");
        assert_eq!(v(vec![der(&selfsigned)]), "trusted");
        assert_eq!(v(vec![der(&old_selfsigned)]), "untrusted: expired");
        assert_eq!(v(vec![]), "untrusted: no certificate");
        assert_eq!(v(vec![b"junk".to_vec()]), "untrusted: bad encoding");

        // Not in the bundle.
        let (stranger, _) = make_cert(
            &CertSpec {
                ca: true,
                ..Default::default()
            },
            None,
        );
        let verdict = v(vec![der(&stranger)]);
        assert!(verdict.starts_with("untrusted: "), "{verdict}");
        let (plain_stranger, _) = make_cert(
            &CertSpec {
                cn: "stranger.example.test",
                ..Default::default()
            },
            None,
        );
        assert_eq!(v(vec![der(&plain_stranger)]), "untrusted: unknown issuer");
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let load = |path: &Path| {
            load_trust_stores(&TrustOptions {
                ca_file: Some(path.to_owned()),
                platform_roots: PlatformRoots::Disabled,
            })
            .map(|_| ())
            .unwrap_err()
            .to_string()
        };
        let missing = dir.path().join("missing.pem");
        let err = load(&missing);
        assert!(err.contains(&missing.display().to_string()), "{err}");
        assert!(err.starts_with("cannot read CA file"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        assert_eq!(
            load(&empty),
            format!("CA file {} holds no PEM certificate", empty.display())
        );

        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = load(&broken);
        assert!(err.contains("broken.pem"), "{err}");
    }

    #[test]
    fn native_platform_store_loads() {
        // The machine's store (Debian ca-certificates here): the platform store has roots.
        let (stores, warnings) = load_trust_stores(&TrustOptions::default()).expect("stores");
        assert!(stores.platform.is_some(), "platform roots: {warnings:?}");
        assert!(stores.ca_file.is_none());
    }
}
