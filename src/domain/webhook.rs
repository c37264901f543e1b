//! Rules of outbound webhooks (docs/rules.md §12, Standard Webhooks): the event types, which destinations may be
//! called (server-side request forgery), the signature, and the retry schedule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine;

use super::InputError;

/// What happened, as the `type` of a webhook payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    ClientRegistered,
    ClientBound,
    InvitationAccepted,
    SubscriptionStarted,
    SubscriptionRenewed,
    SubscriptionCancelled,
    PaymentRecorded,
    PaymentRefunded,
    CommissionAccrued,
    CommissionApproved,
    CommissionPaid,
    CommissionReversed,
    StopListDecided,
    LeadAssigned,
    TaskCreated,
    WebhookTest,
}

impl EventType {
    /// Every type, in the order `webhookEventTypes` lists them.
    pub const ALL: [EventType; 16] = [
        EventType::ClientRegistered,
        EventType::ClientBound,
        EventType::InvitationAccepted,
        EventType::SubscriptionStarted,
        EventType::SubscriptionRenewed,
        EventType::SubscriptionCancelled,
        EventType::PaymentRecorded,
        EventType::PaymentRefunded,
        EventType::CommissionAccrued,
        EventType::CommissionApproved,
        EventType::CommissionPaid,
        EventType::CommissionReversed,
        EventType::StopListDecided,
        EventType::LeadAssigned,
        EventType::TaskCreated,
        EventType::WebhookTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ClientRegistered => "client.registered",
            EventType::ClientBound => "client.bound",
            EventType::InvitationAccepted => "invitation.accepted",
            EventType::SubscriptionStarted => "subscription.started",
            EventType::SubscriptionRenewed => "subscription.renewed",
            EventType::SubscriptionCancelled => "subscription.cancelled",
            EventType::PaymentRecorded => "payment.recorded",
            EventType::PaymentRefunded => "payment.refunded",
            EventType::CommissionAccrued => "commission.accrued",
            EventType::CommissionApproved => "commission.approved",
            EventType::CommissionPaid => "commission.paid",
            EventType::CommissionReversed => "commission.reversed",
            EventType::StopListDecided => "stop_list.decided",
            EventType::LeadAssigned => "lead.assigned",
            EventType::TaskCreated => "task.created",
            EventType::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(raw: &str) -> Result<EventType, InputError> {
        EventType::ALL.into_iter().find(|t| t.as_str() == raw).ok_or_else(|| {
            let shown: String = raw.chars().filter(|c| !c.is_control()).take(60).collect();
            InputError::new("UNKNOWN_EVENT_TYPE", format!("unknown event type {shown:?} (see webhookEventTypes)"))
        })
    }
}

pub use entity::enums::DeliveryStatus;

/// The event types an endpoint chose: at least one, each known, no repeats (kept in the order given).
pub fn parse_event_types(raw: &[String]) -> Result<Vec<EventType>, InputError> {
    if raw.is_empty() {
        return Err(InputError::new("NO_EVENT_TYPES", "choose at least one event type"));
    }
    if raw.len() > EventType::ALL.len() * 2 {
        return Err(InputError::new("TOO_MANY_EVENT_TYPES", "too many event types"));
    }
    let mut out: Vec<EventType> = Vec::new();
    for r in raw {
        let t = EventType::parse(r.trim())?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Joins event types for the `event_types` column.
pub fn join_event_types(types: &[EventType]) -> String {
    types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(",")
}

/// Splits the `event_types` column (unknown names, from a later version, are skipped).
pub fn split_event_types(stored: &str) -> Vec<EventType> {
    stored.split(',').filter_map(|s| EventType::parse(s).ok()).collect()
}

/// Whether a destination address may be called when private destinations are not allowed: only
/// globally routable unicast addresses. Refused: unspecified, loopback, private (RFC 1918), shared
/// (CGNAT 100.64/10), link-local (with the cloud metadata address 169.254.169.254), benchmarking,
/// documentation and reserved IPv4; unspecified, loopback, unique-local (with `fd00:ec2::254`),
/// link-local, site-local, documentation and multicast IPv6; and any IPv6 form that embeds a refused
/// IPv4 address (mapped, compatible, NAT64, 6to4).
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0                                   // "this network", 0.0.0.0
        || a == 10                                         // private
        || a == 127                                        // loopback
        || (a == 100 && (64..128).contains(&b))            // shared address space (CGNAT)
        || (a == 169 && b == 254)                          // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))             // private
        || (a == 192 && b == 0 && c == 0)                  // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                  // documentation
        || (a == 192 && b == 88 && c == 99)                // 6to4 relay anycast
        || (a == 192 && b == 168)                          // private
        || (a == 198 && (b == 18 || b == 19))              // benchmarking
        || (a == 198 && b == 51 && c == 100)               // documentation
        || (a == 203 && b == 0 && c == 113)                // documentation
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4 inside IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        // ::, ::1 and the deprecated IPv4-compatible form.
        return false;
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 6to4: 2002:AABB:CCDD::/48 carries a.b.c.d.
        return is_public_v4(embedded(s[1], s[2]));
    }
    let refused = (s[0] & 0xfe00) == 0xfc00           // unique local fc00::/7 (fd00:ec2::254 too)
        || (s[0] & 0xffc0) == 0xfe80                   // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0                   // site-local fec0::/10 (deprecated)
        || (s[0] & 0xff00) == 0xff00                   // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8)          // documentation
        || (s[0] == 0x2001 && s[1] == 0)               // Teredo (tunnels to an embedded IPv4)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]); // discard-only 100::/64
    !refused
}

/// A signing secret as shown to its owner: `whsec_` and the base64 of its bytes.
pub const SECRET_PREFIX: &str = "whsec_";

pub fn format_secret(bytes: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The bytes of a `whsec_…` secret (the HMAC key).
pub fn secret_bytes(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix(SECRET_PREFIX)?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// One `v1,<base64 HMAC-SHA256>` signature over `<id>.<timestamp>.<body>` (Standard Webhooks).
pub fn sign(key: &[u8], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(message_id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(ctx.sign().as_ref()))
}

/// The `webhook-signature` header: one signature per key, space-separated (the current secret first).
pub fn signature_header(keys: &[Vec<u8>], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter().map(|k| sign(k, message_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// The waits before each retry: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h. After the last, a delivery is
/// `FAILED`.
pub fn default_retry_schedule() -> Vec<Duration> {
    [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600].into_iter().map(Duration::from_secs).collect()
}

/// Parses `PARTNERGRAPH_WEBHOOK_RETRY_SECS`: a comma list of seconds.
pub fn parse_retry_schedule(raw: &str) -> Result<Vec<Duration>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .ok()
                .filter(|n| *n <= 7 * 24 * 3600)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("PARTNERGRAPH_WEBHOOK_RETRY_SECS: {s:?} is not a number of seconds"))
        })
        .collect()
}

/// What happens after attempt number `attempts` (1 = the first) failed: the wait before the next, or
/// None when the schedule is spent.
pub fn next_retry(schedule: &[Duration], attempts: i32) -> Option<Duration> {
    usize::try_from(attempts).ok().and_then(|a| a.checked_sub(1)).and_then(|i| schedule.get(i)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_globally_routable_addresses_are_public() {
        for refused in [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.10",
            "198.18.0.1",
            "::",
            "::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001::1",
        ] {
            assert!(!is_public_address(ip(refused)), "{refused} must be refused");
        }
        for public in
            ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"]
        {
            assert!(is_public_address(ip(public)), "{public} is public");
        }
    }

    #[test]
    fn event_types_are_the_listed_ones_without_repeats() {
        let got =
            parse_event_types(&["payment.recorded".into(), "client.bound".into(), "payment.recorded".into()]).unwrap();
        assert_eq!(got, [EventType::PaymentRecorded, EventType::ClientBound]);
        assert_eq!(split_event_types(&join_event_types(&got)), got);
        assert_eq!(parse_event_types(&["payment.made".into()]).unwrap_err().reason, "UNKNOWN_EVENT_TYPE");
        assert_eq!(parse_event_types(&[]).unwrap_err().reason, "NO_EVENT_TYPES");
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Ok(t));
        }
    }

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The example of the Standard Webhooks specification's reference libraries.
        let key = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let two = signature_header(&[key.clone(), key], "m", 1, b"x");
        assert_eq!(two.split(' ').count(), 2);
        assert!(format_secret(&[0u8; 32]).starts_with("whsec_"));
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let s = default_retry_schedule();
        assert_eq!(next_retry(&s, 1), Some(Duration::from_secs(5)));
        assert_eq!(next_retry(&s, 6), Some(Duration::from_secs(36_000)));
        assert_eq!(next_retry(&s, 7), None);
        assert_eq!(next_retry(&s, 0), None);
        assert_eq!(parse_retry_schedule("0, 1,2").unwrap(), [0, 1, 2].map(Duration::from_secs));
        assert!(parse_retry_schedule("a").is_err());
    }
}
