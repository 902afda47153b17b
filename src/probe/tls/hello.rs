//! The version probe: one hand-built ClientHello (`crate::proto::tls::client_hello`) for a
//! chosen maximum version, and the server's plaintext flight read record by record.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::{HandshakeFailureKind, VersionOutcome, VersionProbe, io_failure_kind, sni_name};
use crate::probe::io::{PduError, ReadAhead, StageError, TlsRecordHint, read_pdu};
use crate::proto::tls::{
    ClientHelloParams, FlightStatus, MAX_RECORD_LEN, ProtocolVersion, RECORD_HEADER_LEN,
    ServerFlightReader, client_hello,
};

/// Upper bound on the bytes [`probe_version`] reads: the parser's handshake limit plus record
/// headers.
pub const MAX_PROBE_READ: usize = crate::proto::tls::MAX_FLIGHT_LEN + 64 * 1024;

/// Sends one hand-built ClientHello offering up to `max_version` and reads the server's
/// plaintext flight until ServerHelloDone, Certificate or Alert (at most [`MAX_PROBE_READ`]
/// bytes, before `deadline`). The connection is dropped afterwards: it is never usable.
pub async fn probe_version(
    mut stream: TcpStream,
    max_version: ProtocolVersion,
    server_name: Option<&str>,
    deadline: Instant,
) -> VersionProbe {
    let mut probe = VersionProbe {
        offered_max: max_version,
        outcome: VersionOutcome::Error(String::new()),
        chain_der: Vec::new(),
    };
    let mut random = [0u8; 32];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).is_err() {
        probe.outcome = VersionOutcome::Error("no system randomness for the client random".into());
        return probe;
    }
    let params = ClientHelloParams {
        max_version,
        random,
        server_name: sni_name(server_name),
    };
    let hello = match client_hello(&params) {
        Ok(h) => h,
        // A name that cannot be SNI (e.g. not ASCII) is left out rather than failing the probe.
        Err(crate::proto::tls::HelloError::InvalidServerName(..)) => {
            match client_hello(&ClientHelloParams {
                server_name: None,
                ..params
            }) {
                Ok(h) => h,
                Err(e) => {
                    probe.outcome = VersionOutcome::Error(e.to_string());
                    return probe;
                }
            }
        }
        Err(e) => {
            probe.outcome = VersionOutcome::Error(e.to_string());
            return probe;
        }
    };
    let mut reader = ServerFlightReader::new();
    probe.outcome = match exchange(&mut stream, &hello, &mut reader, deadline).await {
        Err(outcome) => outcome,
        // Complete: the flight holds a ServerHello or an Alert, handled below.
        Ok(()) => VersionOutcome::Error("flight ended without ServerHello or Alert".into()),
    };
    let flight = reader.into_flight();
    if let Some(hello) = &flight.server_hello {
        // Whatever ended the read, a ServerHello decides the version.
        probe.outcome = VersionOutcome::Selected {
            version: hello.version,
            cipher: hello.cipher_suite,
        };
        probe.chain_der = flight.certificates;
    } else if let Some(alert) = flight.alert {
        probe.outcome = VersionOutcome::Alert(alert);
    }
    probe
}

/// Writes the hello and feeds the answer to `reader`, one record at a time, until the flight
/// is complete (`Ok`), or says why it did not complete. The caller refines the outcome from
/// what `reader` holds.
async fn exchange(
    stream: &mut TcpStream,
    hello: &[u8],
    reader: &mut ServerFlightReader,
    deadline: Instant,
) -> Result<(), VersionOutcome> {
    match timeout_at(deadline, stream.write_all(hello)).await {
        Err(_) => return Err(VersionOutcome::Timeout),
        Ok(Err(e)) => {
            return Err(match io_failure_kind(&e) {
                HandshakeFailureKind::Closed => VersionOutcome::Closed,
                _ => VersionOutcome::Error(e.to_string()),
            });
        }
        Ok(Ok(())) => {}
    }
    let mut total = 0usize;
    let mut record = Vec::with_capacity(RECORD_HEADER_LEN);
    loop {
        record.clear();
        let cap = RECORD_HEADER_LEN + MAX_RECORD_LEN;
        let read = read_pdu(
            stream,
            &mut record,
            &TlsRecordHint,
            cap,
            ReadAhead::Exact,
            deadline,
        )
        .await;
        let received = total.saturating_add(record.len());
        let failed = match read {
            Ok(_) => None,
            Err(PduError::Frame(e)) => Some(VersionOutcome::Error(e.to_string())),
            Err(PduError::Stage(e)) => Some(match e {
                StageError::Timeout(_) => VersionOutcome::Timeout,
                StageError::Closed { .. } | StageError::Reset if received == 0 => {
                    VersionOutcome::Closed
                }
                StageError::Closed { .. } => VersionOutcome::Error(format!(
                    "connection closed after {received} bytes, before the flight ended"
                )),
                StageError::Protocol(why) => VersionOutcome::Error(why),
                e if received == 0 => VersionOutcome::Error(e.to_string()),
                e => VersionOutcome::Error(format!("read failed after {received} bytes: {e}")),
            }),
        };
        if let Some(outcome) = failed {
            return Err(outcome);
        }
        total = received;
        if total > MAX_PROBE_READ {
            return Err(VersionOutcome::Error(format!(
                "server sent more than {MAX_PROBE_READ} bytes without ending its flight"
            )));
        }
        match reader.feed(&record) {
            Ok(FlightStatus::Complete) => return Ok(()),
            Ok(FlightStatus::NeedMore) => {}
            Err(e) => return Err(VersionOutcome::Error(e.to_string())),
        }
    }
}
