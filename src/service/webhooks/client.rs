//! One webhook attempt over HTTP/1.1: resolve, check every address ([`urls::resolve`]), connect to a
//! checked address (TLS with the URL's host as SNI and certificate name), POST with the URL's `Host`,
//! and read the status line. No redirect is followed, no connection is kept, the response body is never
//! read, and the whole attempt has 10 seconds.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::{Host, Url};

use super::urls;

/// How long one attempt may take in all (connect, TLS, request, status line).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an attempt did not get an answer. The texts are fixed and short: they go to the delivery log,
/// which never shows a response body or internal detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptError {
    Unreachable(urls::Unreachable),
    Connect,
    Tls,
    Certificate,
    Http,
    Timeout,
}

impl AttemptError {
    pub fn message(self) -> &'static str {
        match self {
            AttemptError::Unreachable(u) => u.message(),
            AttemptError::Connect => "could not connect",
            AttemptError::Tls => "the TLS handshake failed",
            AttemptError::Certificate => "the TLS certificate is not valid for this host",
            AttemptError::Http => "the HTTP exchange failed",
            AttemptError::Timeout => "no answer within 10 s",
        }
    }
}

/// The outbound client: TLS settings and whether private destinations are allowed.
#[derive(Clone)]
pub struct Outbound {
    tls: tokio_rustls::TlsConnector,
    allow_private: bool,
}

/// Trusts the webpki roots (Mozilla's list), with ring.
pub fn default_tls() -> Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    Arc::new(tls_with_roots(roots))
}

/// A TLS client configuration over these roots (tests pass their own CA).
pub fn tls_with_roots(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => b,
        // The ring provider supports the default versions; fall back to the plain builder regardless.
        Err(_) => rustls::ClientConfig::builder(),
    };
    let mut config = builder.with_root_certificates(roots).with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

impl Outbound {
    pub fn new(tls: Arc<rustls::ClientConfig>, allow_private: bool) -> Self {
        Outbound { tls: tokio_rustls::TlsConnector::from(tls), allow_private }
    }

    /// POSTs `body` with `headers` to `url`; the answer's status code.
    pub async fn post(&self, url: &Url, headers: &[(&str, String)], body: Bytes) -> Result<u16, AttemptError> {
        match tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(url, headers, body)).await {
            Ok(r) => r,
            Err(_) => Err(AttemptError::Timeout),
        }
    }

    async fn attempt(&self, url: &Url, headers: &[(&str, String)], body: Bytes) -> Result<u16, AttemptError> {
        let addrs = urls::resolve(url, self.allow_private).await.map_err(AttemptError::Unreachable)?;
        let mut tcp = None;
        for addr in addrs {
            if let Ok(s) = TcpStream::connect(addr).await {
                tcp = Some(s);
                break;
            }
        }
        let tcp = tcp.ok_or(AttemptError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let request = build_request(url, headers, body)?;
        if url.scheme() == "https" {
            let name = match url.host() {
                Some(Host::Domain(d)) => ServerName::try_from(d.to_owned()).map_err(|_| AttemptError::Tls)?,
                Some(Host::Ipv4(ip)) => ServerName::from(std::net::IpAddr::V4(ip)),
                Some(Host::Ipv6(ip)) => ServerName::from(std::net::IpAddr::V6(ip)),
                None => return Err(AttemptError::Tls),
            };
            let tls = self.tls.connect(name, tcp).await.map_err(|e| {
                let certificate = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
                if certificate { AttemptError::Certificate } else { AttemptError::Tls }
            })?;
            exchange(tls, request).await
        } else {
            exchange(tcp, request).await
        }
    }
}

fn build_request(
    url: &Url,
    headers: &[(&str, String)],
    body: Bytes,
) -> Result<hyper::Request<Full<Bytes>>, AttemptError> {
    // The Host header names the URL's host (and its port when not the scheme's default), whatever
    // address the connection went to.
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(AttemptError::Http),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut b = hyper::Request::post(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::CONTENT_LENGTH, body.len())
        .header(hyper::header::USER_AGENT, "partnergraph-webhooks/1")
        .header(hyper::header::CONNECTION, "close");
    for (name, value) in headers {
        b = b.header(*name, value.as_str());
    }
    b.body(Full::new(body)).map_err(|_| AttemptError::Http)
}

async fn exchange<S>(io: S, request: hyper::Request<Full<Bytes>>) -> Result<u16, AttemptError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|_| AttemptError::Http)?;
    let conn = tokio::spawn(conn);
    let result = sender.send_request(request).await.map(|r| r.status().as_u16()).map_err(|_| AttemptError::Http);
    // Only the status matters: the body is never read, and the connection is not kept.
    conn.abort();
    result
}
