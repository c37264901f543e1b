//! The client's address behind reverse proxies, for the rate limit of anonymous callers.
//!
//! Only when the TCP peer is a trusted proxy (`PARTNERGRAPH_TRUSTED_PROXIES`) is the proxy header read: from
//! its right end, each trusted proxy is skipped and the first address that is not one is the client.
//! Everything left of it was written by the client and is never believed. Anyone else's header is ignored:
//! the TCP peer is the client.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The header the trusted proxies append the client's address to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx's `$proxy_add_x_forwarded_for`).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

/// At most this many hops are read from the right end of the header.
const MAX_HOPS: usize = 64;

/// An address block: an address and a prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| format!("{s:?} is not an address or CIDR block"))?;
        let network = network.to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// How the client address of a request is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    trusted: Vec<Cidr>,
    header: ProxyHeader,
}

impl Default for ClientAddr {
    fn default() -> Self {
        ClientAddr { trusted: Vec::new(), header: ProxyHeader::XForwardedFor }
    }
}

impl ClientAddr {
    /// From a comma-separated list of addresses and CIDR blocks (empty: no proxy is trusted).
    pub fn new(trusted: &str, header: ProxyHeader) -> Result<Self, String> {
        let trusted = trusted
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Cidr>, String>>()?;
        Ok(ClientAddr { trusted, header })
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let name = match self.header {
            ProxyHeader::XForwardedFor => "x-forwarded-for",
            ProxyHeader::Forwarded => "forwarded",
        };
        // Several header lines are one list, in order.
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        let elements = values.iter().flat_map(|v| v.split(',')).collect::<Vec<&str>>();
        let mut client = peer;
        for element in elements.iter().rev().take(MAX_HOPS) {
            let hop = match self.header {
                ProxyHeader::XForwardedFor => parse_node(element),
                ProxyHeader::Forwarded => forwarded_for(element).and_then(parse_node),
            };
            // Something that is not an address (`unknown`, garbage) ends the trusted chain: nothing left
            // of it can be told apart from what the client wrote.
            let Some(ip) = hop else { return client };
            client = ip;
            if !self.is_trusted(ip) {
                return ip;
            }
        }
        client
    }
}

/// The `for=` value of one `Forwarded` element (`for=1.2.3.4;proto=https`).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
    })
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:4711`, quoted
/// or not.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = node.parse::<std::net::SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    let inner = node.strip_prefix('[')?.split(']').next()?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.1.2.3")) && !c.contains(ip("11.0.0.1")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        // An IPv4 peer seen through an IPv6 socket is the same address.
        assert!(one.contains(ip("::ffff:127.0.0.1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::/129", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert!(ClientAddr::new("127.0.0.1, 10.0.0.0/8,,", ProxyHeader::XForwardedFor).is_ok());
        assert!(ClientAddr::new("127.0.0.1, 300.0.0.1", ProxyHeader::XForwardedFor).is_err());
        assert_eq!(ClientAddr::new("", ProxyHeader::XForwardedFor).unwrap(), ClientAddr::default());
    }

    #[test]
    fn the_header_counts_only_when_the_peer_is_a_trusted_proxy() {
        let c = ClientAddr::new("10.0.0.0/8", ProxyHeader::XForwardedFor).unwrap();
        let h = headers("x-forwarded-for", &["203.0.113.7"]);
        assert_eq!(c.client(ip("10.0.0.2"), &h), ip("203.0.113.7"));
        assert_eq!(c.client(ip("198.51.100.1"), &h), ip("198.51.100.1"), "an untrusted peer's header is ignored");
        // No proxies configured: never read.
        assert_eq!(ClientAddr::default().client(ip("10.0.0.2"), &h), ip("10.0.0.2"));
        // A trusted peer without the header is the client itself.
        assert_eq!(c.client(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client_and_what_the_client_wrote_is_ignored() {
        let c = ClientAddr::new("10.0.0.0/8, 127.0.0.1", ProxyHeader::XForwardedFor).unwrap();
        // The client claims 1.1.1.1; the edge proxy appends the real peer, an inner proxy appends the edge.
        let h = headers("x-forwarded-for", &["1.1.1.1, 203.0.113.7, 10.0.0.5"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        // Split over two header lines: the same list.
        let h = headers("x-forwarded-for", &["1.1.1.1", "203.0.113.7, 10.0.0.5"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        // Garbage right of the first untrusted hop stops the walk at the last trusted proxy.
        let h = headers("x-forwarded-for", &["203.0.113.7, not-an-address, 10.0.0.5"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), ip("10.0.0.5"));
        // Ports and brackets as some proxies write them.
        let h = headers("x-forwarded-for", &["[2001:db8::7]:4711"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), ip("2001:db8::7"));
        let h = headers("x-forwarded-for", &["203.0.113.7:5000"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        // Everything trusted: the left-most proxy is as far as we can see.
        let h = headers("x-forwarded-for", &["10.0.0.9, 10.0.0.5"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), ip("10.0.0.9"));
    }

    #[test]
    fn the_forwarded_header_is_read_when_configured_and_the_other_one_is_not() {
        let c = ClientAddr::new("127.0.0.1", ProxyHeader::Forwarded).unwrap();
        let h = headers("forwarded", &["for=1.1.1.1, For=\"[2001:db8:cafe::17]:4711\";proto=https"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let h = headers("forwarded", &["for=unknown"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        // The proxy writes `Forwarded`; an `X-Forwarded-For` it passed through came from the client.
        let h = headers("x-forwarded-for", &["1.1.1.1"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }
}
