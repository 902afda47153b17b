//! Misbehaving servers for the TLS and CredSSP stages. Each negotiates correctly (so the scan
//! gets past X.224) and then misbehaves: TLS servers answer the ClientHello with hand-made
//! records; CredSSP servers complete a real TLS handshake (OpenSSL, a certificate made here)
//! and answer the client's TSRequest with hand-made DER / NTLM. Blocking std threads, one per
//! connection, on 127.0.0.1 only; every read has a timeout so no thread outlives the tests
//! by long.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::{X509, X509NameBuilder};

use super::servers::{confirm, failure};

/// SSL, HYBRID (MS-RDPBCGR 2.2.1.1.1 requestedProtocols).
const SSL: u32 = 0x1;
const HYBRID: u32 = 0x2;

#[derive(Debug, Clone)]
pub enum TlsMisbehaviour {
    /// A valid ServerHello, then 2000 bytes that are no TLS record.
    GarbageAfterHello,
    /// A valid ServerHello, then HelloRequest records, forever.
    EndlessRecords,
    /// A fatal handshake_failure alert, then close.
    Alert,
    /// A ServerHello, then a Certificate message announcing 10 MB and streaming all of it.
    HugeCertificate,
    /// A ServerHello, a Certificate message of 100 certificates, ServerHelloDone.
    Chain(usize),
    /// A ServerHello, a Certificate message holding DER garbage, ServerHelloDone.
    MalformedCertificate,
    /// A ServerHello, a Certificate whose subject CN is this text, ServerHelloDone.
    CommonName(String),
    /// Half a ServerHello, then a reset (SO_LINGER 0).
    ResetMidHello,
}

#[derive(Debug, Clone)]
pub enum CredsspMisbehaviour {
    /// These bytes (inside TLS) as the reply to the client's TSRequest.
    Reply(Vec<u8>),
    /// The first bytes of a valid reply, then a reset.
    ResetMid(Vec<u8>),
}

#[derive(Debug, Clone)]
pub enum Stage {
    Tls(TlsMisbehaviour),
    Credssp(CredsspMisbehaviour),
}

/// Bytes a client accepted from a streaming server (largest per connection).
#[derive(Debug, Default)]
pub struct Accepted(AtomicUsize);

impl Accepted {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
pub struct StageListener {
    pub port: u16,
    pub accepted: Arc<Accepted>,
}

// ------------------------------------------------------------------------------------------
// Byte builders.

fn u24(n: usize) -> [u8; 3] {
    let b = u32::try_from(n).expect("u24").to_be_bytes();
    [b[1], b[2], b[3]]
}

/// TLS records of content type `ct` carrying `body`, split at 16 KiB (RFC 5246 6.2.1).
pub fn records(ct: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(16384) {
        out.extend_from_slice(&[ct, 3, 3]);
        out.extend_from_slice(&u16::try_from(chunk.len()).expect("u16").to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// A handshake message (RFC 5246 7.4).
pub fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![ty];
    out.extend_from_slice(&u24(body.len()));
    out.extend_from_slice(body);
    out
}

/// A TLS 1.0-1.2 ServerHello answering `client_hello` (first record, as read): its
/// legacy version (at most 1.2) and its first non-TLS-1.3 cipher suite; no extensions.
pub fn server_hello(client_hello: &[u8]) -> Vec<u8> {
    let version = match client_hello.get(9..11) {
        Some(&[3, minor]) => [3, minor.min(3)],
        _ => [3, 3],
    };
    let mut suite = [0xc0, 0x2f];
    let sid_len = usize::from(client_hello.get(43).copied().unwrap_or(0));
    let at = 44 + sid_len;
    if let Some(&[hi, lo]) = client_hello.get(at..at + 2) {
        let n = usize::from(u16::from_be_bytes([hi, lo]));
        if let Some(list) = client_hello.get(at + 2..at + 2 + n)
            && let Some(s) = list
                .chunks_exact(2)
                .find(|s| s[0] != 0x13 && **s != [0x00, 0xff])
        {
            suite = [s[0], s[1]];
        }
    }
    let mut body = version.to_vec();
    body.extend_from_slice(&[0x42; 32]);
    body.push(0);
    body.extend_from_slice(&suite);
    body.push(0);
    handshake(2, &body)
}

/// A Certificate message (RFC 5246 7.4.2) with these DER certificates.
pub fn certificate_message(ders: &[Vec<u8>]) -> Vec<u8> {
    let mut list = Vec::new();
    for d in ders {
        list.extend_from_slice(&u24(d.len()));
        list.extend_from_slice(d);
    }
    let mut body = u24(list.len()).to_vec();
    body.extend_from_slice(&list);
    handshake(11, &body)
}

/// A DER TLV with a definite length.
pub fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(u8::try_from(n).expect("short"));
    } else {
        let bytes = u32::try_from(n).expect("u32").to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | u8::try_from(4 - skip).expect("count"));
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A server TSRequest (MS-CSSP 2.2.1): version 6 and one negoToken.
pub fn ts_request(token: &[u8]) -> Vec<u8> {
    let item = der(0x30, &der(0xa0, &der(0x04, token)));
    let mut body = der(0xa0, &der(0x02, &[6]));
    body.extend(der(0xa1, &der(0x30, &item)));
    der(0x30, &body)
}

/// An NTLM CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) with VERSION 10.0.17763; offsets default to
/// the payload layout, or as given.
pub fn ntlm_challenge(
    target: &[u8],
    pairs: &[u8],
    target_offset: Option<u32>,
    info_offset: Option<u32>,
) -> Vec<u8> {
    let len = |b: &[u8]| u16::try_from(b.len()).expect("u16").to_le_bytes();
    let tn_off = target_offset.unwrap_or(56);
    let ti_off = info_offset.unwrap_or(56 + u32::try_from(target.len()).expect("u32"));
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend_from_slice(&2u32.to_le_bytes());
    m.extend_from_slice(&len(target));
    m.extend_from_slice(&len(target));
    m.extend_from_slice(&tn_off.to_le_bytes());
    m.extend_from_slice(&0xe28a_8235u32.to_le_bytes());
    m.extend_from_slice(&[0x11; 8]);
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&len(pairs));
    m.extend_from_slice(&len(pairs));
    m.extend_from_slice(&ti_off.to_le_bytes());
    m.extend_from_slice(&[10, 0]);
    m.extend_from_slice(&17763u16.to_le_bytes());
    m.extend_from_slice(&[0, 0, 0, 0x0f]);
    m.extend_from_slice(target);
    m.extend_from_slice(pairs);
    m
}

/// One AV pair (MS-NLMP 2.2.2.1).
pub fn av(id: u16, value: &[u8]) -> Vec<u8> {
    let mut out = id.to_le_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(value.len()).expect("u16").to_le_bytes());
    out.extend_from_slice(value);
    out
}

pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A self-signed P-256 certificate with subject CN `cn`, and its key.
pub fn certificate(cn: &str) -> (X509, PKey<Private>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, cn).expect("CN");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("v3");
    let mut serial = BigNum::new().expect("bn");
    serial.rand(64, MsbOption::MAYBE_ZERO, false).expect("rand");
    b.set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(365).expect("later"))
        .expect("na");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    (b.build(), key)
}

// ------------------------------------------------------------------------------------------
// Serving.

fn read_tpkt(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).ok()?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut rest = vec![0u8; len.checked_sub(4)?];
    s.read_exact(&mut rest).ok()?;
    let mut all = h.to_vec();
    all.extend(rest);
    Some(all)
}

fn requested(req: &[u8]) -> u32 {
    match req.len().checked_sub(4).and_then(|at| req.get(at..)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Reads one TLS record (the ClientHello).
fn read_record(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 5];
    s.read_exact(&mut h).ok()?;
    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    let mut all = h.to_vec();
    all.extend(body);
    Some(all)
}

fn drain(s: &mut impl Read) {
    let mut sink = [0u8; 4096];
    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
}

/// Closes with an RST (SO_LINGER 0), through tokio's helper (std has no stable one).
fn reset(s: TcpStream) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        return;
    };
    let _guard = rt.enter();
    if s.set_nonblocking(true).is_ok()
        && let Ok(t) = tokio::net::TcpStream::from_std(s)
    {
        let _ = t.set_zero_linger();
    }
}

fn serve_tls(mut s: TcpStream, how: &TlsMisbehaviour, accepted: &Accepted) {
    let Some(req) = read_tpkt(&mut s) else { return };
    if requested(&req) & SSL == 0 {
        let _ = s.write_all(&failure(1));
        return;
    }
    if s.write_all(&confirm(0x00, SSL)).is_err() {
        return;
    }
    let Some(hello) = read_record(&mut s) else {
        return;
    };
    let sh = records(22, &server_hello(&hello));
    let mut flight = |parts: &[Vec<u8>]| {
        let body: Vec<u8> = parts.concat();
        let _ = s.write_all(&records(22, &body));
        let _ = s.flush();
    };
    match how {
        TlsMisbehaviour::GarbageAfterHello => {
            let mut out = sh.clone();
            out.extend(std::iter::repeat_n(0xab, 2000));
            let _ = s.write_all(&out);
        }
        TlsMisbehaviour::EndlessRecords => {
            let _ = s.write_all(&sh);
            let batch: Vec<u8> = (0..1000)
                .flat_map(|_| records(22, &handshake(0, &[])))
                .collect();
            let mut sent = 0;
            while s.write_all(&batch).is_ok() {
                sent += batch.len();
                accepted.0.fetch_max(sent, Ordering::Relaxed);
            }
            return;
        }
        TlsMisbehaviour::Alert => {
            let _ = s.write_all(&records(21, &[2, 40]));
            return;
        }
        TlsMisbehaviour::HugeCertificate => {
            let total = 10 << 20;
            let mut first = sh.clone();
            // Certificate header announcing 10 MB, and the list length.
            let mut head = vec![11];
            head.extend_from_slice(&u24(total));
            head.extend_from_slice(&u24(total - 3));
            first.extend(records(22, &head));
            if s.write_all(&first).is_err() {
                return;
            }
            let chunk = records(22, &vec![0x30; 16384]);
            let mut sent = 0;
            while sent < total {
                if s.write_all(&chunk).is_err() {
                    break;
                }
                sent += 16384;
                accepted.0.fetch_max(sent, Ordering::Relaxed);
            }
            return;
        }
        TlsMisbehaviour::Chain(n) => {
            let (cert, _) = certificate("chain-link.invalid");
            let der = cert.to_der().expect("der");
            let ders = vec![der; *n];
            flight(&[
                server_hello(&hello),
                certificate_message(&ders),
                handshake(14, &[]),
            ]);
        }
        TlsMisbehaviour::MalformedCertificate => {
            let mut junk = vec![0x30, 0x82, 0x01, 0x00];
            junk.extend(std::iter::repeat_n(0x41, 60));
            flight(&[
                server_hello(&hello),
                certificate_message(&[junk]),
                handshake(14, &[]),
            ]);
        }
        TlsMisbehaviour::CommonName(cn) => {
            let (cert, _) = certificate(cn);
            flight(&[
                server_hello(&hello),
                certificate_message(&[cert.to_der().expect("der")]),
                handshake(14, &[]),
            ]);
        }
        TlsMisbehaviour::ResetMidHello => {
            let _ = s.write_all(sh.get(..sh.len() / 2).unwrap_or_default());
            let _ = s.flush();
            std::thread::sleep(Duration::from_millis(50));
            reset(s);
            return;
        }
    }
    drain(&mut s);
}

fn serve_credssp(mut s: TcpStream, how: &CredsspMisbehaviour, acceptor: &SslAcceptor) {
    let Some(req) = read_tpkt(&mut s) else { return };
    if requested(&req) & HYBRID == 0 {
        // HYBRID_REQUIRED_BY_SERVER: NLA required.
        let _ = s.write_all(&failure(5));
        return;
    }
    if s.write_all(&confirm(0x00, HYBRID)).is_err() {
        return;
    }
    let Ok(raw) = s.try_clone() else { return };
    let Ok(mut tls) = acceptor.accept(s) else {
        return;
    };
    // The client's TSRequest (NTLM NEGOTIATE): one read is enough for its ~60 bytes.
    let mut buf = [0u8; 4096];
    if !matches!(tls.read(&mut buf), Ok(n) if n > 0) {
        return;
    }
    match how {
        CredsspMisbehaviour::Reply(bytes) => {
            let _ = tls.write_all(bytes);
            let _ = tls.flush();
            drain(&mut tls);
        }
        CredsspMisbehaviour::ResetMid(bytes) => {
            let _ = tls.write_all(bytes.get(..bytes.len() / 2).unwrap_or_default());
            let _ = tls.flush();
            std::thread::sleep(Duration::from_millis(50));
            reset(raw);
        }
    }
}

/// Starts every stage misbehaviour on its own loopback listener.
pub fn start(behaviours: Vec<(&'static str, Stage)>) -> BTreeMap<&'static str, StageListener> {
    let (cert, key) = certificate("hostile-credssp.invalid");
    let mut builder =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).expect("SSL acceptor");
    builder.set_certificate(&cert).expect("certificate");
    builder.set_private_key(&key).expect("key");
    let acceptor = Arc::new(builder.build());
    let mut out = BTreeMap::new();
    for (name, stage) in behaviours {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
        let port = listener.local_addr().expect("address").port();
        let accepted = Arc::new(Accepted::default());
        out.insert(
            name,
            StageListener {
                port,
                accepted: accepted.clone(),
            },
        );
        let acceptor = acceptor.clone();
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
                let _ = s.set_write_timeout(Some(Duration::from_secs(20)));
                let (stage, accepted, acceptor) =
                    (stage.clone(), accepted.clone(), acceptor.clone());
                std::thread::spawn(move || match &stage {
                    Stage::Tls(how) => serve_tls(s, how, &accepted),
                    Stage::Credssp(how) => serve_credssp(s, how, &acceptor),
                });
            }
        });
    }
    out
}
