//! Where a webhook may go (server-side request forgery, docs/rules.md §12): `https://` only and no private,
//! loopback, link-local, unique-local, CGNAT, multicast, unspecified or metadata destination, unless
//! `PARTNERGRAPH_WEBHOOK_ALLOW_PRIVATE` is on. Checked when an endpoint is saved (literal addresses and
//! what a name resolves to) and again at every attempt, after resolving, on the very addresses the
//! attempt then connects to ([`resolve`]): a name that resolves elsewhere later is not followed there.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

use crate::domain::webhook::is_public_address;
use crate::error::{AppError, AppResult};

/// The longest endpoint URL.
pub const MAX_URL: usize = 2000;
/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

fn refused(message: &str) -> AppError {
    AppError::bad_input("url", "WEBHOOK_URL_NOT_ALLOWED", format!("url: {message}"))
}

/// Parses an endpoint URL and checks its form: absolute `https://` (or `http://` where private
/// destinations are allowed), a host, no user name or password, no fragment.
pub fn parse(raw: &str, allow_private: bool) -> AppResult<Url> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_URL || raw.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            "url",
            "INVALID_URL",
            format!("url: an absolute URL of at most {MAX_URL} characters"),
        ));
    }
    let url = Url::parse(raw).map_err(|_| AppError::bad_input("url", "INVALID_URL", "url: not an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(refused("only https:// endpoints are allowed")),
    }
    if url.host().is_none() {
        return Err(AppError::bad_input("url", "INVALID_URL", "url: the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AppError::bad_input("url", "INVALID_URL", "url: no user name or password in the URL"));
    }
    if url.fragment().is_some() {
        return Err(AppError::bad_input("url", "INVALID_URL", "url: no #fragment"));
    }
    Ok(url)
}

/// Why a destination cannot be called (short, fixed texts: they go to the delivery log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    NotAllowed,
    DoesNotResolve,
}

impl Unreachable {
    pub fn message(self) -> &'static str {
        match self {
            Unreachable::NotAllowed => "the destination is a private, local or reserved address",
            Unreachable::DoesNotResolve => "the host name does not resolve",
        }
    }
}

/// The addresses to connect to for a URL: its literal address, or what its name resolves to now. Where
/// private destinations are not allowed, every address must be public (a name that resolves to one
/// private address among public ones is refused whole).
pub async fn resolve(url: &Url, allow_private: bool) -> Result<Vec<SocketAddr>, Unreachable> {
    let port = url.port_or_known_default().ok_or(Unreachable::DoesNotResolve)?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => {
            match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port))).await {
                Ok(Ok(found)) => found.collect(),
                _ => return Err(Unreachable::DoesNotResolve),
            }
        }
        None => return Err(Unreachable::DoesNotResolve),
    };
    if addrs.is_empty() {
        return Err(Unreachable::DoesNotResolve);
    }
    if !allow_private && addrs.iter().any(|a| !is_public_address(a.ip())) {
        return Err(Unreachable::NotAllowed);
    }
    Ok(addrs)
}

/// The check when an endpoint is saved: the form, and (where private destinations are not allowed)
/// the destination as it resolves now.
pub async fn check_endpoint_url(raw: &str, allow_private: bool) -> AppResult<Url> {
    let url = parse(raw, allow_private)?;
    if !allow_private {
        resolve(&url, false).await.map_err(|e| refused(e.message()))?;
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_of_a_url_is_checked_before_anything_resolves() {
        for bad in
            ["", "not a url", "/relative", "https://user:pw@example.com/", "https://example.com/#x", "mailto:a@b.c"]
        {
            assert!(parse(bad, true).is_err(), "{bad}");
        }
        assert_eq!(parse("http://example.com/", false).unwrap_err().reason(), Some("WEBHOOK_URL_NOT_ALLOWED"));
        assert!(parse("http://127.0.0.1:9/x", true).is_ok());
        assert!(parse("https://example.com/hook?k=v", false).is_ok());
        assert!(parse(&format!("https://example.com/{}", "a".repeat(MAX_URL)), false).is_err());
    }

    #[tokio::test]
    async fn literal_and_resolved_private_destinations_are_refused_unless_allowed() {
        for url in [
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://100.64.1.1/",
            "https://0.0.0.0/",
            "https://[::ffff:127.0.0.1]/",
            "https://localhost/",
        ] {
            let u = parse(url, false).unwrap();
            assert_eq!(resolve(&u, false).await, Err(Unreachable::NotAllowed), "{url}");
            assert!(resolve(&u, true).await.is_ok(), "{url} when allowed");
        }
        let u = parse("https://8.8.8.8:8443/", false).unwrap();
        assert_eq!(resolve(&u, false).await.unwrap(), vec!["8.8.8.8:8443".parse().unwrap()]);
    }
}
