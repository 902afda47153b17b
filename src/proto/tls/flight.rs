//! The server's first flight, parsed incrementally from TLS records: ServerHello, Certificate,
//! ServerHelloDone, Alert (RFC 5246 7.4, RFC 8446 4.1.3).

use super::*;

// ---------------------------------------------------------------------------------------------
// Server flight.
// ---------------------------------------------------------------------------------------------

/// One extension as received, kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub typ: ExtensionType,
    pub data: Vec<u8>,
}

/// The SHA-256 of "HelloRetryRequest": a ServerHello with this random is an HRR (RFC 8446 4.1.3).
pub(super) const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// A parsed ServerHello (RFC 5246 7.4.1.3, RFC 8446 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// `server_version` / `legacy_version` as sent.
    pub legacy_version: ProtocolVersion,
    /// The negotiated version: the supported_versions extension when present (TLS 1.3),
    /// otherwise `legacy_version`.
    pub version: ProtocolVersion,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suite: CipherSuite,
    pub compression_method: u8,
    pub extensions: Vec<Extension>,
    /// A TLS 1.3 HelloRetryRequest rather than a real ServerHello.
    pub hello_retry_request: bool,
}

impl ServerHello {
    /// Parses the body of a ServerHello handshake message (after the 4-byte header).
    pub fn parse(body: &[u8]) -> Result<Self, TlsParseError> {
        const WHAT: &str = "ServerHello";
        let mut r = Reader::new(body, WHAT);
        let legacy_version = ProtocolVersion(r.u16("server_version")?);
        let random: [u8; 32] = r
            .take(32, "random")?
            .try_into()
            .map_err(|_| malformed(WHAT, "random is not 32 bytes"))?;
        let sid_len = usize::from(r.u8("session_id length")?);
        if sid_len > 32 {
            return Err(malformed(
                WHAT,
                format!("session_id length {sid_len} exceeds 32"),
            ));
        }
        let session_id = r.take(sid_len, "session_id")?.to_vec();
        let cipher_suite = CipherSuite(r.u16("cipher_suite")?);
        let compression_method = r.u8("compression_method")?;
        let mut extensions = Vec::new();
        if !r.is_empty() {
            let ext_len = usize::from(r.u16("extensions length")?);
            let mut er = Reader::new(r.take(ext_len, "extensions")?, WHAT);
            while !er.is_empty() {
                let typ = ExtensionType(er.u16("extension type")?);
                let len = usize::from(er.u16("extension length")?);
                let data = er.take(len, "extension data")?.to_vec();
                extensions.push(Extension { typ, data });
            }
        }
        if !r.is_empty() {
            return Err(malformed(
                WHAT,
                format!("{} trailing bytes after the extensions", r.remaining()),
            ));
        }
        let mut version = legacy_version;
        if let Some(ext) = extensions
            .iter()
            .find(|e| e.typ == ExtensionType::SUPPORTED_VERSIONS)
        {
            match ext.data.as_slice() {
                [hi, lo] => version = ProtocolVersion(u16::from_be_bytes([*hi, *lo])),
                other => {
                    return Err(malformed(
                        WHAT,
                        format!(
                            "supported_versions extension of {} bytes, expected 2",
                            other.len()
                        ),
                    ));
                }
            }
        }
        Ok(Self {
            legacy_version,
            version,
            hello_retry_request: random == HELLO_RETRY_REQUEST_RANDOM,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions,
        })
    }
}

/// Parses the body of a TLS 1.0-1.2 Certificate message (RFC 5246 7.4.2): the DER certificates,
/// sender's (leaf) first. The certificates themselves are not parsed here.
pub fn parse_certificate_list(body: &[u8]) -> Result<Vec<Vec<u8>>, TlsParseError> {
    const WHAT: &str = "Certificate message";
    let mut r = Reader::new(body, WHAT);
    let total = r.u24("certificate_list length")?;
    let mut list = Reader::new(r.take(total, "certificate_list")?, WHAT);
    if !r.is_empty() {
        return Err(malformed(
            WHAT,
            format!("{} trailing bytes after certificate_list", r.remaining()),
        ));
    }
    let mut certs = Vec::new();
    while !list.is_empty() {
        let len = list.u24("certificate length")?;
        if len == 0 {
            return Err(malformed(WHAT, "empty certificate entry"));
        }
        certs.push(list.take(len, "certificate")?.to_vec());
    }
    Ok(certs)
}

/// The length of the TLS record (header included) that starts `buf`: `Ok(None)` while fewer
/// than [`RECORD_HEADER_LEN`] bytes are there. Refuses what is not a TLS record (an unknown
/// content type, a version whose major byte is not 3) and fragments over [`MAX_RECORD_LEN`]
/// (RFC 5246 6.2.1), before anything is read for them.
pub fn record_len(buf: &[u8]) -> Result<Option<usize>, TlsParseError> {
    let Some(&[typ, v0, v1, l0, l1]) = buf.get(..RECORD_HEADER_LEN) else {
        return Ok(None);
    };
    let content_type = ContentType(typ);
    let version = u16::from_be_bytes([v0, v1]);
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let known_type = matches!(
        content_type,
        ContentType::CHANGE_CIPHER_SPEC
            | ContentType::ALERT
            | ContentType::HANDSHAKE
            | ContentType::APPLICATION_DATA
    );
    if !known_type || version >> 8 != 3 {
        return Err(TlsParseError::NotTls {
            content_type: content_type.0,
            version,
        });
    }
    if len > MAX_RECORD_LEN {
        return Err(TlsParseError::RecordTooLarge { len });
    }
    Ok(Some(RECORD_HEADER_LEN + len))
}

/// What the server sent in its first flight, as far as it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFlight {
    /// The record-layer version of the first record.
    pub record_version: Option<ProtocolVersion>,
    pub server_hello: Option<ServerHello>,
    /// Whether a Certificate message was received (it may be empty).
    pub certificate_received: bool,
    /// The DER certificates of the Certificate message, leaf first.
    pub certificates: Vec<Vec<u8>>,
    pub server_hello_done: bool,
    /// An alert, which ends the flight.
    pub alert: Option<Alert>,
    /// Handshake message types in arrival order (HelloRequest excluded).
    pub messages: Vec<HandshakeType>,
    /// The flight ended on a ChangeCipherSpec record (an abbreviated handshake).
    pub change_cipher_spec: bool,
}

/// Result of feeding bytes to a [`ServerFlightReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlightStatus {
    /// The flight is not complete: read more bytes and feed them.
    NeedMore,
    /// Everything a probe needs has arrived; see [`ServerFlightReader::flight`].
    Complete,
}

/// Incremental parser of the server's first flight (records in, ServerHello / Certificate /
/// ServerHelloDone / Alert out).
///
/// The flight is complete at the first of: an Alert; a Certificate message; a ServerHelloDone;
/// a ServerHello that selects TLS 1.3 or is a HelloRetryRequest (the rest is encrypted); a
/// ChangeCipherSpec. Records are limited to [`MAX_RECORD_LEN`] and the reassembled handshake
/// bytes to [`MAX_FLIGHT_LEN`].
#[derive(Debug, Default)]
pub struct ServerFlightReader {
    /// Unconsumed record-layer bytes (at most one partial record once `feed` returns).
    pending: Vec<u8>,
    /// Handshake bytes not yet forming a whole message.
    handshake: Vec<u8>,
    /// Alert bytes (an alert may in theory be split over records).
    alert: Vec<u8>,
    /// Total handshake bytes received.
    handshake_total: usize,
    flight: ServerFlight,
    complete: bool,
}

impl ServerFlightReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// What has been parsed so far (complete once `feed` returned [`FlightStatus::Complete`]).
    pub fn flight(&self) -> &ServerFlight {
        &self.flight
    }

    pub fn into_flight(self) -> ServerFlight {
        self.flight
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Feeds bytes read from the socket. Bytes after the end of the flight are ignored.
    pub fn feed(&mut self, data: &[u8]) -> Result<FlightStatus, TlsParseError> {
        if self.complete {
            return Ok(FlightStatus::Complete);
        }
        self.pending.extend_from_slice(data);
        let mut consumed = 0;
        let result = loop {
            let rest = self.pending.get(consumed..).unwrap_or_default();
            let record = match record_len(rest) {
                Ok(Some(record)) => record,
                Ok(None) => break Ok(FlightStatus::NeedMore),
                Err(e) => break Err(e),
            };
            let (Some(&[typ, v0, v1, ..]), Some(fragment)) = (
                rest.get(..RECORD_HEADER_LEN),
                rest.get(RECORD_HEADER_LEN..record),
            ) else {
                break Ok(FlightStatus::NeedMore);
            };
            let content_type = ContentType(typ);
            let version = u16::from_be_bytes([v0, v1]);
            let fragment = fragment.to_vec();
            consumed += record;
            self.flight
                .record_version
                .get_or_insert(ProtocolVersion(version));
            match self.record(content_type, &fragment) {
                Ok(FlightStatus::Complete) => {
                    self.complete = true;
                    break Ok(FlightStatus::Complete);
                }
                Ok(FlightStatus::NeedMore) => {}
                Err(e) => break Err(e),
            }
        };
        self.pending.drain(..consumed.min(self.pending.len()));
        if result.is_err() {
            // A broken stream stays broken: refuse further input.
            self.complete = true;
            self.pending.clear();
        }
        result
    }

    fn record(
        &mut self,
        content_type: ContentType,
        fragment: &[u8],
    ) -> Result<FlightStatus, TlsParseError> {
        match content_type {
            ContentType::ALERT => {
                self.alert.extend_from_slice(fragment);
                if let [level, description, ..] = self.alert[..] {
                    self.flight.alert = Some(Alert {
                        level: AlertLevel(level),
                        description: AlertDescription(description),
                    });
                    return Ok(FlightStatus::Complete);
                }
                Ok(FlightStatus::NeedMore)
            }
            ContentType::CHANGE_CIPHER_SPEC => {
                if self.flight.server_hello.is_none() {
                    return Err(TlsParseError::Unexpected {
                        what: "ChangeCipherSpec before ServerHello".into(),
                    });
                }
                self.flight.change_cipher_spec = true;
                Ok(FlightStatus::Complete)
            }
            ContentType::HANDSHAKE => {
                self.handshake_total = self.handshake_total.saturating_add(fragment.len());
                if self.handshake_total > MAX_FLIGHT_LEN {
                    return Err(TlsParseError::FlightTooLarge);
                }
                self.handshake.extend_from_slice(fragment);
                self.handshake_messages()
            }
            _ => Err(TlsParseError::Unexpected {
                what: format!("record of content type {}", content_type.0),
            }),
        }
    }

    /// Parses every complete handshake message in the reassembly buffer.
    fn handshake_messages(&mut self) -> Result<FlightStatus, TlsParseError> {
        let mut consumed = 0;
        let status = loop {
            let rest = self.handshake.get(consumed..).unwrap_or_default();
            let Some(&[typ, l0, l1, l2]) = rest.get(..4) else {
                break FlightStatus::NeedMore;
            };
            let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
            if len > MAX_FLIGHT_LEN {
                return Err(TlsParseError::FlightTooLarge);
            }
            let Some(body) = rest.get(4..4 + len) else {
                break FlightStatus::NeedMore;
            };
            let body = body.to_vec();
            consumed += 4 + len;
            if self.message(HandshakeType(typ), &body)? == FlightStatus::Complete {
                break FlightStatus::Complete;
            }
        };
        self.handshake.drain(..consumed.min(self.handshake.len()));
        Ok(status)
    }

    fn message(&mut self, typ: HandshakeType, body: &[u8]) -> Result<FlightStatus, TlsParseError> {
        if typ == HandshakeType::HELLO_REQUEST {
            return Ok(FlightStatus::NeedMore);
        }
        self.flight.messages.push(typ);
        if self.flight.server_hello.is_none() {
            if typ != HandshakeType::SERVER_HELLO {
                return Err(TlsParseError::Unexpected {
                    what: format!("handshake message type {} before ServerHello", typ.0),
                });
            }
            let hello = ServerHello::parse(body)?;
            let encrypted_rest =
                hello.version >= ProtocolVersion::TLS1_3 || hello.hello_retry_request;
            self.flight.server_hello = Some(hello);
            return Ok(if encrypted_rest {
                FlightStatus::Complete
            } else {
                FlightStatus::NeedMore
            });
        }
        match typ {
            HandshakeType::SERVER_HELLO => Err(TlsParseError::Unexpected {
                what: "second ServerHello".into(),
            }),
            HandshakeType::CERTIFICATE => {
                self.flight.certificates = parse_certificate_list(body)?;
                self.flight.certificate_received = true;
                Ok(FlightStatus::Complete)
            }
            HandshakeType::SERVER_HELLO_DONE => {
                if !body.is_empty() {
                    return Err(malformed(
                        "ServerHelloDone",
                        format!("{} bytes of body, expected none", body.len()),
                    ));
                }
                self.flight.server_hello_done = true;
                Ok(FlightStatus::Complete)
            }
            // ServerKeyExchange, CertificateRequest, CertificateStatus, ...: not needed.
            _ => Ok(FlightStatus::NeedMore),
        }
    }
}

/// Bounds-checked big-endian reader over one message.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], TlsParseError> {
        if n > self.buf.len() {
            return Err(malformed(
                self.what,
                format!("{field} needs {n} bytes, only {} left", self.buf.len()),
            ));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &str) -> Result<u8, TlsParseError> {
        match self.take(1, field)? {
            [b] => Ok(*b),
            _ => Err(malformed(self.what, format!("{field} missing"))),
        }
    }

    fn u16(&mut self, field: &str) -> Result<u16, TlsParseError> {
        match self.take(2, field)? {
            [a, b] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(malformed(self.what, format!("{field} missing"))),
        }
    }

    fn u24(&mut self, field: &str) -> Result<usize, TlsParseError> {
        match self.take(3, field)? {
            [a, b, c] => Ok(usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c)),
            _ => Err(malformed(self.what, format!("{field} missing"))),
        }
    }
}

/// Parses a whole buffer as a server flight: `Ok(None)` when it is a valid but incomplete prefix.
pub fn parse_server_flight(bytes: &[u8]) -> Result<Option<ServerFlight>, TlsParseError> {
    let mut reader = ServerFlightReader::new();
    match reader.feed(bytes)? {
        FlightStatus::Complete => Ok(Some(reader.into_flight())),
        FlightStatus::NeedMore => Ok(None),
    }
}
