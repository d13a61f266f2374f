//! TLS to a kopia server: leaf-certificate pinning and the connector tonic uses.
//!
//! With a pin, standard chain and host name validation is replaced by one rule:
//! the SHA-256 of the **end-entity** certificate must equal the pin (kopia
//! accepts a match anywhere in the chain, which lets a man in the middle append
//! the public pinned certificate to its own leaf; see spec §1.4). The handshake
//! signature is still verified with the leaf's public key, so the peer must hold
//! the pinned certificate's private key. A mismatch aborts the handshake, before
//! any HTTP/2 byte (and so any credential) is sent. Without a pin the operating
//! system's root certificates and normal host name checks apply.

use std::fmt;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::fingerprint::Fingerprint;
use super::url::ServerUrl;

/// The ALPN protocol kopia's server needs for gRPC (HTTP/2).
const ALPN_H2: &[u8] = b"h2";

/// The presented leaf certificate does not match the pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinMismatch {
    /// The configured pin.
    pub expected: Fingerprint,
    /// Fingerprint of the leaf certificate the server presented.
    pub actual: Fingerprint,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "server certificate fingerprint mismatch: expected {}, server presented {}",
            self.expected, self.actual
        )
    }
}

impl std::error::Error for PinMismatch {}

/// Why a connection to the server could not be set up (TCP or TLS).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The leaf certificate's fingerprint differs from the pin.
    #[error("{0}")]
    PinMismatch(PinMismatch),
    /// TCP connect failed (refused, unreachable, reset, ...).
    #[error("cannot connect to {target}: {source}")]
    Tcp {
        /// `host:port`.
        target: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed for another reason (not TLS, bad certificate, ...).
    #[error("TLS handshake with {target} failed: {message}")]
    Tls {
        /// `host:port`.
        target: String,
        /// The TLS error text.
        message: String,
    },
    /// The server completed TLS but did not agree to HTTP/2.
    #[error(
        "server {target} did not negotiate HTTP/2 (ALPN h2); a kopia server needs TLS with \
         HTTP/2, a reverse proxy must forward gRPC over TLS"
    )]
    NoHttp2 {
        /// `host:port`.
        target: String,
    },
}

impl ConnectError {
    /// True when retrying later may succeed (network trouble, not a trust problem).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConnectError::Tcp { .. })
    }
}

/// Verifies the server by its pinned leaf fingerprint (see the module docs).
#[derive(Debug)]
pub struct PinnedLeafVerifier {
    pin: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedLeafVerifier {
    /// A verifier accepting only a leaf certificate whose SHA-256 equals `pin`.
    pub fn new(pin: Fingerprint) -> Self {
        PinnedLeafVerifier {
            pin,
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for PinnedLeafVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = Fingerprint::of_der(end_entity.as_ref());
        if actual == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch {
                    expected: self.pin,
                    actual,
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The ring crypto provider (the project does not use aws-lc-rs). rustls 0.23.48
/// deprecates it for lacking post-quantum key exchange, which kopia's Go server
/// would only offer with X25519MLKEM768; classic ECDHE is still negotiated.
#[allow(deprecated)]
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Builds the client TLS configuration: ring provider, TLS 1.2 and 1.3, ALPN `h2`,
/// and either the pin verifier or the system roots.
pub fn client_config(pin: Option<Fingerprint>) -> Result<Arc<ClientConfig>, crate::Error> {
    let provider = Arc::new(provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| crate::Error::InvalidInput(format!("TLS configuration: {e}")))?;
    let mut config = match pin {
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedLeafVerifier::new(pin)))
            .with_no_client_auth(),
        None => {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(crate::Error::InvalidInput(
                    "no server certificate fingerprint given and no system root certificates \
                     found; pass the server's certificate fingerprint"
                        .into(),
                ));
            }
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| crate::Error::InvalidInput(format!("TLS configuration: {e}")))?;
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// Opens TCP to `url` and performs the TLS handshake with `config`.
///
/// A pin mismatch is returned as [`ConnectError::PinMismatch`]; no application
/// data has been written at that point.
pub async fn connect(
    url: &ServerUrl,
    config: Arc<ClientConfig>,
) -> Result<TlsStream<TcpStream>, ConnectError> {
    let target = url.authority();
    let tcp = TcpStream::connect((url.host(), url.port()))
        .await
        .map_err(|source| ConnectError::Tcp {
            target: target.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let name = match url.ip() {
        Some(ip) => ServerName::IpAddress(ip.into()),
        None => ServerName::try_from(url.host().to_owned()).map_err(|e| ConnectError::Tls {
            target: target.clone(),
            message: format!("invalid host name: {e}"),
        })?,
    };
    let stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| classify_handshake_error(&target, e))?;
    if stream.get_ref().1.alpn_protocol() != Some(ALPN_H2) {
        return Err(ConnectError::NoHttp2 { target });
    }
    Ok(stream)
}

/// Finds a [`PinMismatch`] inside the I/O error tokio-rustls returns.
fn classify_handshake_error(target: &str, e: std::io::Error) -> ConnectError {
    if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        if let Some(m) = other.0.downcast_ref::<PinMismatch>() {
            return ConnectError::PinMismatch(m.clone());
        }
    }
    let message = match e.kind() {
        std::io::ErrorKind::InvalidData => format!(
            "{e} (is the server speaking TLS? kopia servers started with --insecure cannot \
             serve repository clients)"
        ),
        _ => e.to_string(),
    };
    ConnectError::Tls {
        target: target.to_owned(),
        message,
    }
}

/// A tower service for `Endpoint::connect_with_connector`: every (re)connection
/// of the channel goes through [`connect`], so the pin is checked each time.
pub fn connector(
    url: ServerUrl,
    config: Arc<ClientConfig>,
) -> impl tower::Service<
    tonic::codegen::http::Uri,
    Response = TokioIo<TlsStream<TcpStream>>,
    Error = ConnectError,
    Future = impl Future<Output = Result<TokioIo<TlsStream<TcpStream>>, ConnectError>> + Send,
> + Send
+ Clone
+ 'static {
    tower::service_fn(move |_uri| {
        let url = url.clone();
        let config = config.clone();
        async move { connect(&url, config).await.map(TokioIo::new) }
    })
}

/// Walks an error's `source()` chain looking for a [`ConnectError`].
pub fn find_connect_error<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a ConnectError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(c) = err.downcast_ref::<ConnectError>() {
            return Some(c);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_is_found_in_io_error() {
        let m = PinMismatch {
            expected: Fingerprint::of_der(b"a"),
            actual: Fingerprint::of_der(b"b"),
        };
        let rustls_err = rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(
            Arc::new(m.clone()),
        )));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_err);
        match classify_handshake_error("h:1", io) {
            ConnectError::PinMismatch(got) => assert_eq!(got, m),
            other => panic!("{other:?}"),
        }
        let msg = m.to_string();
        assert!(msg.contains(&m.expected.to_string()) && msg.contains(&m.actual.to_string()));
    }

    #[test]
    fn other_handshake_errors_stay_generic() {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, "corrupt message");
        let e = classify_handshake_error("h:1", io);
        assert!(matches!(e, ConnectError::Tls { .. }), "{e:?}");
        assert!(e.to_string().contains("--insecure"), "{e}");
        assert!(!e.is_retryable());
    }

    #[test]
    fn connect_error_is_found_in_chain() {
        #[derive(Debug)]
        struct Wrapper(ConnectError);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("wrapper")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let w = Wrapper(ConnectError::NoHttp2 { target: "x".into() });
        assert!(matches!(
            find_connect_error(&w),
            Some(ConnectError::NoHttp2 { .. })
        ));
        let plain = std::io::Error::other("x");
        assert!(find_connect_error(&plain).is_none());
    }

    #[test]
    fn verifier_accepts_only_the_pinned_leaf() {
        let leaf = CertificateDer::from(b"leaf-der".to_vec());
        let other = CertificateDer::from(b"other-der".to_vec());
        let v = PinnedLeafVerifier::new(Fingerprint::of_der(b"other-der"));
        let name = ServerName::try_from("h").unwrap();
        // The pin matches only an intermediate: refused.
        let e = v
            .verify_server_cert(
                &leaf,
                std::slice::from_ref(&other),
                &name,
                &[],
                UnixTime::now(),
            )
            .unwrap_err();
        assert!(matches!(e, rustls::Error::InvalidCertificate(_)), "{e:?}");
        assert!(
            v.verify_server_cert(&other, &[], &name, &[], UnixTime::now())
                .is_ok()
        );
        assert!(!v.supported_verify_schemes().is_empty());
    }
}
