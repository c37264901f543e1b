//! Webhooks over HTTPS: the sender connects to the address it checked and speaks TLS with the URL's host
//! as the server name, verifying the certificate against its roots. A local TLS receiver uses a test
//! certificate for `localhost` (tests/api/fixtures, signed by a test-only CA, valid until 2126).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::webhooks::{deliveries, endpoint};

/// What the TLS receiver saw of one request: the TLS server name, the `Host` header, the path, the body.
type Seen = Arc<Mutex<Vec<(Option<String>, String, String, String)>>>;

/// A TLS receiver on 127.0.0.1 for `localhost`; returns its port and what it saw.
async fn tls_receiver() -> (u16, Seen, tokio::task::JoinHandle<()>) {
    let cert = CertificateDer::from_pem_slice(include_bytes!("fixtures/webhook-localhost.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/webhook-localhost.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, log) = (acceptor.clone(), log.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let sni = tls.get_ref().1.server_name().map(str::to_owned);
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let (log, sni) = (log.clone(), sni.clone());
                    async move {
                        let host = req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
                        let path = req.uri().to_string();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        log.lock().unwrap().push((sni, host, path, String::from_utf8_lossy(&body).into_owned()));
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    (port, seen, server)
}

/// Waits (at most 30 s) until the endpoint's first delivery has had an attempt; returns it.
async fn attempted(app: &TestApp, ep: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all = deliveries(app, &app.vendor, Some(ep)).await;
        if let Some(d) = all.iter().find(|d| d["attempts"].as_i64() >= Some(1)) {
            return d.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no attempt: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const SEND_TEST: &str = "mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }";

#[tokio::test]
async fn an_https_endpoint_gets_its_event_over_tls_with_the_url_host_as_server_name_and_host() {
    let (port, seen, server) = tls_receiver().await;
    let app = spawn_app().await;
    let ca = CertificateDer::from_pem_slice(include_bytes!("fixtures/webhook-ca.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let tls = Arc::new(partnergraph::service::webhooks::client::tls_with_roots(roots));
    partnergraph::service::webhooks::sender::spawn_with(app.state.ctx.clone(), tls).unwrap();
    let url = format!("https://localhost:{port}/hooks/pg?tenant=42");
    let (ep, _) = endpoint(&app, &app.vendor, &url, &["payment.recorded"]).await;
    app.as_(&app.vendor, SEND_TEST, json!({ "id": ep })).await.ok();
    let d = attempted(&app, &ep).await;
    assert_eq!((d["status"].as_str(), d["responseStatus"].as_i64()), (Some("DELIVERED"), Some(200)), "{d}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (sni, host, path, body) = &seen[0];
    assert_eq!(sni.as_deref(), Some("localhost"));
    assert_eq!(host, &format!("localhost:{port}"));
    assert_eq!(path, "/hooks/pg?tenant=42");
    assert_eq!(body, d["payload"].as_str().unwrap());
    server.abort();
}

#[tokio::test]
async fn a_certificate_the_roots_do_not_trust_fails_the_attempt_and_sends_nothing() {
    let (port, seen, server) = tls_receiver().await;
    let app = spawn_app().await;
    // The public (webpki) roots, as in production: the test CA is not among them.
    partnergraph::service::webhooks::sender::spawn(app.state.ctx.clone()).unwrap();
    let (ep, _) = endpoint(&app, &app.vendor, &format!("https://localhost:{port}/hook"), &["payment.recorded"]).await;
    app.as_(&app.vendor, SEND_TEST, json!({ "id": ep })).await.ok();
    let d = attempted(&app, &ep).await;
    assert_eq!(d["status"], "PENDING");
    assert_eq!(d["lastError"], "the TLS certificate is not valid for this host");
    assert!(seen.lock().unwrap().is_empty(), "no request went over an untrusted connection");
    server.abort();
}
