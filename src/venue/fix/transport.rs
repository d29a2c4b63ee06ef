//! The byte pipe under a FIX session (R-VEN-2 "TLS"): plain TCP, or TLS (rustls) over
//! the same nonblocking mio socket, for both roles.
//!
//! A [`Link`] never blocks. Its TLS side is driven by hand — `read_tls`,
//! `process_new_packets`, `reader()`, `writer()`, `write_tls` — from the caller's own
//! reads and writes, so the handshake progresses inside the duty cycle that polls it:
//!
//! - an initiator calls [`Link::establish`] until it answers `Ok(true)` (TCP connected
//!   and, for TLS, the handshake done) and only then sends its Logon;
//! - an acceptor just reads: the handshake runs inside [`Read::read`], which yields
//!   plaintext only once there is some;
//! - [`Write::write`] takes plaintext (or answers `WouldBlock` while the socket has not
//!   taken the records already encrypted), and [`Write::flush`] pushes what rustls holds
//!   (`WouldBlock` if the socket could not take all of it yet): call it every turn.
//!
//! The session layer above only ever sees plaintext FIX bytes.
//!
//! Certificates and keys are PEM files, loaded when a venue (or the simulator) starts;
//! the crypto is rustls' `ring` provider, chosen explicitly (no process-wide default).

use super::settings::TlsSpec;
use mio::net::TcpStream;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig};
use rustls::{ServerConnection, SupportedProtocolVersion};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;

/// The protocol versions offered and accepted: TLS 1.3 and 1.2.
static VERSIONS: &[&SupportedProtocolVersion] = rustls::ALL_VERSIONS;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate of a PEM file (at least one).
fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(format!("{path}: no CERTIFICATE in it (PEM expected)"));
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
fn load_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::NoItemsFound => format!("{path}: no PRIVATE KEY in it (PEM expected)"),
        e => pem_error(path, e),
    })
}

fn pem_error(path: &str, e: pem::Error) -> String {
    match e {
        pem::Error::Io(e) => format!("cannot read {path}: {e}"),
        e => format!("{path}: not a PEM file: {e}"),
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

/// What an initiator needs to open TLS connections: the verified configuration and the
/// name the broker's certificate must carry.
#[derive(Clone, Debug)]
pub struct TlsClient {
    /// rustls client configuration.
    pub config: Arc<ClientConfig>,
    /// SNI and verification name.
    pub name: ServerName<'static>,
}

impl TlsClient {
    /// Loads the CA certificates (and the client certificate and key, for mutual TLS) a
    /// `[venues.fix]` section names. The error names the setting at fault.
    pub fn load(spec: &TlsSpec) -> Result<TlsClient, (&'static str, String)> {
        let mut roots = RootCertStore::empty();
        for c in load_certs(&spec.ca).map_err(|e| ("SSLCACertificate", e))? {
            roots.add(c).map_err(|e| {
                (
                    "SSLCACertificate",
                    format!("{}: not a usable CA certificate: {e}", spec.ca),
                )
            })?;
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| ("SocketUseSSL", e.to_string()))?
            .with_root_certificates(roots);
        let config = match (&spec.cert, &spec.key) {
            (Some(cert), Some(key)) => {
                let chain = load_certs(cert).map_err(|e| ("SSLCertificate", e))?;
                let key = load_key(key).map_err(|e| ("SSLPrivateKey", e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| ("SSLPrivateKey", format!("does not fit SSLCertificate: {e}")))?
            }
            _ => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from(spec.server_name.clone()).map_err(|_| {
            (
                "SSLServerName",
                format!("{:?} is not a DNS name or IP address", spec.server_name),
            )
        })?;
        Ok(TlsClient {
            config: Arc::new(config),
            name,
        })
    }
}

/// An acceptor's TLS configuration from a certificate chain and its key (PEM files);
/// with `client_ca`, clients must present a certificate issued by one of its CAs.
pub fn server_config(
    cert: &str,
    key: &str,
    client_ca: Option<&str>,
) -> Result<Arc<ServerConfig>, String> {
    let chain = load_certs(cert)?;
    let key_der = load_key(key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in load_certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| format!("{ca}: not a usable CA certificate: {e}"))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| format!("{ca}: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| format!("{key} does not fit {cert}: {e}"))?;
    Ok(Arc::new(config))
}

/// One nonblocking connection, plain or TLS.
#[derive(Debug)]
pub struct Link {
    sock: TcpStream,
    tls: Option<Box<Connection>>,
    /// The TCP connect completed.
    tcp_up: bool,
    /// The socket said end of file.
    eof: bool,
    /// The TLS error that ended the connection, repeated to every later call.
    failed: Option<String>,
}

impl Link {
    /// Starts connecting to `addr` (TCP_NODELAY), as a TLS client with `tls`.
    pub fn connect(addr: SocketAddr, tls: Option<&TlsClient>) -> io::Result<Link> {
        let tls = match tls {
            None => None,
            Some(t) => Some(Box::new(Connection::from(
                ClientConnection::new(t.config.clone(), t.name.clone()).map_err(tls_error)?,
            ))),
        };
        let sock = TcpStream::connect(addr)?;
        let _ = sock.set_nodelay(true);
        Ok(Link {
            sock,
            tls,
            tcp_up: false,
            eof: false,
            failed: None,
        })
    }

    /// An accepted connection, as a TLS server with `tls`.
    pub fn accepted(sock: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<Link> {
        let tls = match tls {
            None => None,
            Some(c) => Some(Box::new(Connection::from(
                ServerConnection::new(c.clone()).map_err(tls_error)?,
            ))),
        };
        Ok(Link {
            sock,
            tls,
            tcp_up: true,
            eof: false,
            failed: None,
        })
    }

    /// TLS, not plain TCP.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The TLS handshake is not finished yet.
    pub fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// TCP connected and, for TLS, the handshake done: plaintext can flow.
    pub fn is_connected(&self) -> bool {
        self.tcp_up && !self.handshaking()
    }

    /// TLS records are waiting for the socket to take them.
    pub fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Drives a connection being opened: `Ok(true)` once [`Link::is_connected`],
    /// `Ok(false)` while the TCP connect or the TLS handshake is under way, `Err` when
    /// either failed (the TLS error in the message).
    pub fn establish(&mut self) -> io::Result<bool> {
        if !self.tcp_up {
            if let Some(e) = self.sock.take_error()? {
                return Err(e);
            }
            match self.sock.peer_addr() {
                Ok(_) => self.tcp_up = true,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        let Link {
            sock,
            tls,
            failed: why,
            ..
        } = self;
        let Some(tls) = tls.as_deref_mut() else {
            return Ok(true);
        };
        failed(why)?;
        push(tls, sock)?;
        while tls.is_handshaking() {
            match tls.read_tls(sock) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    ))
                }
                Ok(_) => process(tls, sock, why)?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            push(tls, sock)?;
        }
        Ok(!tls.is_handshaking())
    }

    /// The socket's pending error (SO_ERROR).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }

    /// The peer's address (`NotConnected` while the TCP connect is under way).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    /// Closes: a TLS close_notify first (best effort, never waiting), then TCP.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        let Link { sock, tls, .. } = self;
        if let Some(tls) = tls.as_deref_mut() {
            if !tls.is_handshaking() {
                tls.send_close_notify();
            }
            let _ = push(tls, sock);
        }
        sock.shutdown(how)
    }

    /// The socket, to read its options and to watch it for readiness.
    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }
}

/// Writes the TLS records rustls holds until the socket stops taking them: `Ok(true)`
/// when none is left.
fn push(tls: &mut Connection, sock: &mut TcpStream) -> io::Result<bool> {
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Processes the records read; on a TLS error, tries to tell the peer (the alert
/// rustls queued) before reporting it, and remembers it in `failed`.
fn process(
    tls: &mut Connection,
    sock: &mut TcpStream,
    failed: &mut Option<String>,
) -> io::Result<()> {
    if let Err(e) = tls.process_new_packets() {
        let _ = push(tls, sock);
        let e = tls_error(e);
        *failed = Some(e.to_string());
        return Err(e);
    }
    Ok(())
}

/// The error a failed connection repeats.
fn failed(why: &Option<String>) -> io::Result<()> {
    match why {
        None => Ok(()),
        Some(m) => Err(io::Error::new(io::ErrorKind::InvalidData, m.clone())),
    }
}

impl Read for Link {
    /// Plaintext: `Ok(0)` when the peer closed, `WouldBlock` when nothing is there.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Link {
            sock,
            tls,
            eof,
            failed: why,
            ..
        } = self;
        let Some(tls) = tls.as_deref_mut() else {
            return sock.read(buf);
        };
        failed(why)?;
        loop {
            match tls.reader().read(buf) {
                // 0: close_notify received.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Closed without close_notify: FIX frames itself, so this is just a close.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if *eof {
                return Ok(0);
            }
            match tls.read_tls(sock) {
                Ok(0) => *eof = true,
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            process(tls, sock, why)?;
            // Handshake answers, key updates, alerts.
            push(tls, sock)?;
        }
    }
}

impl Write for Link {
    /// Takes plaintext; `WouldBlock` when the socket is full (nothing taken).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Link {
            sock,
            tls,
            failed: why,
            ..
        } = self;
        let Some(tls) = tls.as_deref_mut() else {
            return sock.write(buf);
        };
        failed(why)?;
        if !push(tls, sock)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = tls.writer().write(buf)?;
        push(tls, sock)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Pushes the TLS records held back; `WouldBlock` if some are still left.
    fn flush(&mut self) -> io::Result<()> {
        let Link { sock, tls, .. } = self;
        match tls.as_deref_mut() {
            None => Ok(()),
            Some(tls) => match push(tls, sock)? {
                true => Ok(()),
                false => Err(io::ErrorKind::WouldBlock.into()),
            },
        }
    }
}

impl mio::event::Source for Link {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.sock.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.sock.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        self.sock.deregister(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_pauses_only_for_real_failures_and_resumes_on_time() {
        let mut p = AcceptPause::default();
        let err = |k| io::Error::from(k);
        assert_eq!(
            p.on_error(&err(io::ErrorKind::WouldBlock), 0, "t"),
            AfterAccept::Stop
        );
        assert_eq!(
            p.on_error(&err(io::ErrorKind::ConnectionAborted), 0, "t"),
            AfterAccept::Next
        );
        assert!(!p.paused(0) && p.failures == 0);
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(p.on_error(&emfile, 10, "t"), AfterAccept::Stop);
        assert!(p.paused(10 + ACCEPT_BACKOFF_NS - 1) && !p.due(10 + ACCEPT_BACKOFF_NS - 1));
        assert!(p.due(10 + ACCEPT_BACKOFF_NS));
        assert!(!p.paused(10 + ACCEPT_BACKOFF_NS) && p.paused_until.is_none());
        assert_eq!(p.failures, 1);
    }
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    /// A throwaway PKI in a temp directory: `ca`, `other-ca` (unrelated), a `server`
    /// certificate for localhost/127.0.0.1 and a `client` one, both from `ca`.
    struct Pki(PathBuf);

    impl Pki {
        fn new(tag: &str) -> Pki {
            let dir = std::env::temp_dir().join(format!(
                "execd-tls-{tag}-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let ca = |cn: &str| {
                let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                p.distinguished_name.push(DnType::CommonName, cn);
                CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
            };
            let ca1 = ca("execd test CA");
            let ca2 = ca("some other CA");
            std::fs::write(dir.join("ca.pem"), ca1.pem()).unwrap();
            std::fs::write(dir.join("other-ca.pem"), ca2.pem()).unwrap();
            for (name, sans) in [
                (
                    "server",
                    vec!["localhost".to_string(), "127.0.0.1".to_string()],
                ),
                ("client", vec!["execd-client".to_string()]),
            ] {
                let key = KeyPair::generate().unwrap();
                let cert = CertificateParams::new(sans)
                    .unwrap()
                    .signed_by(&key, &ca1)
                    .unwrap();
                std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
                std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
            }
            Pki(dir)
        }

        fn path(&self, f: &str) -> String {
            self.0.join(f).to_string_lossy().into_owned()
        }

        fn client(&self, ca: &str, name: &str, mutual: bool) -> TlsClient {
            TlsClient::load(&TlsSpec {
                ca: self.path(ca),
                server_name: name.into(),
                cert: mutual.then(|| self.path("client.pem")),
                key: mutual.then(|| self.path("client.key")),
            })
            .unwrap()
        }
    }

    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    fn would_block<T>(r: &io::Result<T>) -> bool {
        matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// A nonblocking listener and the accepted end of one connection to it.
    fn listen() -> std::net::TcpListener {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        l
    }

    fn accept(l: &std::net::TcpListener, tls: Option<&Arc<ServerConfig>>) -> Link {
        let end = deadline();
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(true).unwrap();
                    return Link::accepted(TcpStream::from_std(s), tls).unwrap();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < end, "no connection to accept");
                    std::thread::yield_now();
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    #[test]
    fn client_talks_to_a_rustls_server_through_the_handshake_and_back_pressure() {
        let pki = Pki::new("client");
        let cfg = server_config(&pki.path("server.pem"), &pki.path("server.key"), None).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A plain blocking rustls echo server: not our code on the other side.
        let server = std::thread::spawn(move || {
            let (sock, _) = listener.accept().unwrap();
            let conn = ServerConnection::new(cfg).unwrap();
            let mut s = rustls::StreamOwned::new(conn, sock);
            let mut buf = vec![0u8; 65536];
            let mut total = 0usize;
            loop {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    return total;
                }
                s.write_all(&buf[..n]).unwrap();
                total += n;
            }
        });
        let mut l = Link::connect(addr, Some(&pki.client("ca.pem", "localhost", false))).unwrap();
        assert!(l.is_tls() && !l.is_connected());
        let end = deadline();
        while !l.establish().unwrap() {
            assert!(l.handshaking());
            assert!(Instant::now() < end, "no handshake");
            std::thread::yield_now();
        }
        assert!(l.is_connected() && !l.handshaking());
        assert!(l.peer_addr().is_ok() && l.take_error().unwrap().is_none());
        // 4 MiB each way: more than the socket buffers hold, so writes usually meet
        // WouldBlock.
        let data: Vec<u8> = (0..4usize << 20).map(|i| (i * 7 % 251) as u8).collect();
        let (mut off, mut got, mut buf) = (0, Vec::new(), vec![0u8; 16384]);
        let mut blocked = 0;
        while got.len() < data.len() {
            if off < data.len() {
                let r = l.write(&data[off..(off + 32768).min(data.len())]);
                match r {
                    Ok(n) => off += n,
                    Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => blocked += 1,
                    Err(e) => panic!("write: {e}"),
                }
            } else {
                let r = l.flush();
                assert!(r.is_ok() || would_block(&r), "flush: {r:?}");
            }
            match l.read(&mut buf) {
                Ok(0) => panic!("closed after {} bytes", got.len()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
            assert!(Instant::now() < end, "echo stalled at {} bytes", got.len());
        }
        assert!(got == data, "echo differs");
        // Whether the socket pushed back depends on how fast the echo thread runs on a
        // busy machine; WouldBlock was handled whenever it came.
        let _ = blocked;
        // close_notify: the server's read sees a clean end.
        l.shutdown(Shutdown::Write).unwrap();
        assert_eq!(server.join().unwrap(), data.len());
    }

    /// Drives both ends until the client is established (or fails) and returns the
    /// client's result; the server's reads stay `WouldBlock` (no plaintext yet).
    fn handshake(c: &mut Link, s: &mut Link) -> io::Result<bool> {
        let end = deadline();
        let mut buf = [0u8; 256];
        loop {
            let r = c.establish();
            let sr = s.read(&mut buf);
            assert!(
                !matches!(sr, Ok(n) if n > 0),
                "plaintext before any was sent"
            );
            if !matches!(r, Ok(false)) {
                return r;
            }
            assert!(Instant::now() < end, "no handshake");
            std::thread::yield_now();
        }
    }

    fn read_some(l: &mut Link) -> io::Result<Vec<u8>> {
        let end = deadline();
        let mut buf = [0u8; 4096];
        loop {
            match l.read(&mut buf) {
                Ok(n) => return Ok(buf[..n].to_vec()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            assert!(Instant::now() < end, "nothing to read");
            std::thread::yield_now();
        }
    }

    #[test]
    fn both_roles_with_mutual_tls() {
        let pki = Pki::new("mutual");
        let cfg = server_config(
            &pki.path("server.pem"),
            &pki.path("server.key"),
            Some(&pki.path("ca.pem")),
        )
        .unwrap();
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let mut c = Link::connect(addr, Some(&pki.client("ca.pem", "127.0.0.1", true))).unwrap();
        let mut s = accept(&listener, Some(&cfg));
        assert!(handshake(&mut c, &mut s).unwrap());
        let logon = b"8=FIX.4.4\x019=5\x0135=A\x0110=000\x01";
        assert_eq!(c.write(logon).unwrap(), logon.len());
        let _ = c.flush();
        assert_eq!(read_some(&mut s).unwrap(), logon);
        assert!(!s.handshaking());
        s.write_all(b"answer").unwrap();
        let _ = s.flush();
        assert_eq!(read_some(&mut c).unwrap(), b"answer");
        s.shutdown(Shutdown::Both).unwrap();
        assert_eq!(
            read_some(&mut c).unwrap(),
            b"",
            "close_notify reads as a close"
        );
    }

    #[test]
    fn failures_are_errors_not_panics() {
        let pki = Pki::new("fail");
        let plain_cfg = server_config(&pki.path("server.pem"), &pki.path("server.key"), None);
        let cfg = plain_cfg.unwrap();
        let listener = listen();
        let addr = listener.local_addr().unwrap();

        // The broker's certificate is not from the CA we trust.
        let mut c =
            Link::connect(addr, Some(&pki.client("other-ca.pem", "localhost", false))).unwrap();
        let mut s = accept(&listener, Some(&cfg));
        let e = handshake(&mut c, &mut s).unwrap_err();
        assert!(e.to_string().contains("invalid peer certificate"), "{e}");
        // The server hears the alert: an error (or a close), never plaintext.
        assert!(!matches!(read_some(&mut s), Ok(v) if !v.is_empty()));

        // The certificate does not carry the name we asked for.
        let mut c =
            Link::connect(addr, Some(&pki.client("ca.pem", "broker.example", false))).unwrap();
        let mut s = accept(&listener, Some(&cfg));
        let e = handshake(&mut c, &mut s).unwrap_err();
        assert!(e.to_string().contains("TLS"), "{e}");

        // Plain FIX against a TLS acceptor: the acceptor refuses the bytes.
        let mut c = Link::connect(addr, None).unwrap();
        let mut s = accept(&listener, Some(&cfg));
        assert!(handshake(&mut c, &mut s).unwrap());
        c.write_all(b"8=FIX.4.4\x019=5\x0135=A\x0110=000\x01")
            .unwrap();
        let e = read_some(&mut s).unwrap_err();
        assert!(e.to_string().contains("TLS"), "{e}");

        // Mutual TLS required, no client certificate: refused by the acceptor.
        let mcfg = server_config(
            &pki.path("server.pem"),
            &pki.path("server.key"),
            Some(&pki.path("ca.pem")),
        )
        .unwrap();
        let mut c = Link::connect(addr, Some(&pki.client("ca.pem", "localhost", false))).unwrap();
        let mut s = accept(&listener, Some(&mcfg));
        // TLS 1.3: the client may finish first and hear the refusal on its next read.
        let refused = match handshake(&mut c, &mut s) {
            Err(e) => e,
            Ok(_) => {
                let _ = c.write(b"x");
                let _ = c.flush();
                let _ = read_some(&mut s);
                read_some(&mut c).expect_err("the acceptor refuses the client")
            }
        };
        assert!(refused.to_string().contains("TLS"), "{refused}");
    }

    #[test]
    fn loading_names_the_file_and_the_setting() {
        let pki = Pki::new("load");
        let spec = |ca: &str, cert: Option<&str>, key: Option<&str>| TlsSpec {
            ca: pki.path(ca),
            server_name: "localhost".into(),
            cert: cert.map(|c| pki.path(c)),
            key: key.map(|k| pki.path(k)),
        };
        let e = TlsClient::load(&spec("missing.pem", None, None)).unwrap_err();
        assert_eq!(e.0, "SSLCACertificate");
        assert!(
            e.1.contains("cannot read") && e.1.contains("missing.pem"),
            "{}",
            e.1
        );
        let e = TlsClient::load(&spec("server.key", None, None)).unwrap_err();
        assert_eq!(e.0, "SSLCACertificate");
        assert!(e.1.contains("no CERTIFICATE"), "{}", e.1);
        let e = TlsClient::load(&spec("ca.pem", Some("client.pem"), Some("ca.pem"))).unwrap_err();
        assert_eq!(e.0, "SSLPrivateKey");
        let e =
            TlsClient::load(&spec("ca.pem", Some("client.pem"), Some("server.key"))).unwrap_err();
        assert_eq!(e.0, "SSLPrivateKey");
        assert!(e.1.contains("does not fit"), "{}", e.1);
        assert!(TlsClient::load(&spec("ca.pem", Some("client.pem"), Some("client.key"))).is_ok());
        let e = server_config(&pki.path("server.pem"), &pki.path("client.key"), None).unwrap_err();
        assert!(e.contains("does not fit"), "{e}");
    }
}

/// How long accepting pauses when the process is out of file descriptors (EMFILE,
/// ENFILE) or the kernel out of socket memory: the waiting connections stay in the
/// listen backlog and are accepted once descriptors are free again.
pub const ACCEPT_BACKOFF_NS: u64 = 100_000_000;

/// A nonblocking listener's accept errors, for the servers that accept FIX connections
/// (order entry, the simulator). Readiness is edge-triggered: a listener left
/// undrained is never signalled again, so a failure that is not "nothing waiting"
/// pauses accepting and a timer (`paused_until`) resumes it.
#[derive(Debug, Default)]
pub struct AcceptPause {
    /// Accept failures so far (other than nothing waiting and connections gone).
    pub failures: u64,
    /// Accepting resumes at this time (ns), if paused.
    pub paused_until: Option<u64>,
}

/// What to do after an accept error.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterAccept {
    /// Stop accepting for now: nothing waits, or accepting paused.
    Stop,
    /// Take the next connection: this one went before it was taken.
    Next,
}

impl AcceptPause {
    /// Whether accepting is paused at `now`; once the pause is over it is cleared.
    pub fn paused(&mut self, now: u64) -> bool {
        match self.paused_until {
            Some(t) if now < t => true,
            _ => {
                self.paused_until = None;
                false
            }
        }
    }

    /// Whether a pause ended by `now` (time to drain the listener again).
    pub fn due(&self, now: u64) -> bool {
        self.paused_until.is_some_and(|t| now >= t)
    }

    /// Classifies `e`; a real failure pauses accepting, reported by `who` on the 1st,
    /// 2nd, 4th, 8th … time.
    pub fn on_error(&mut self, e: &io::Error, now: u64, who: &str) -> AfterAccept {
        match e.kind() {
            io::ErrorKind::WouldBlock => AfterAccept::Stop,
            io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => AfterAccept::Next,
            _ => {
                self.failures += 1;
                if self.failures.is_power_of_two() {
                    eprintln!(
                        "{who}: accept: {e} (accepting again in 100 ms; {} times so far)",
                        self.failures
                    );
                }
                self.paused_until = Some(now + ACCEPT_BACKOFF_NS);
                AfterAccept::Stop
            }
        }
    }
}
