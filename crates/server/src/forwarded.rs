//! The client address behind trusted reverse proxies (`trusted_proxies`). When the TCP peer is
//! a trusted proxy, the client is the right-most address of `X-Forwarded-For` (or, when that
//! header is absent, of `Forwarded: for=`) that is not itself a trusted proxy: hops a client
//! wrote itself sit further left and are never believed. From any other peer the headers are
//! ignored.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The configured proxy networks.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// One hop of a forwarding header: an address, or something else (`unknown`, an obfuscated
/// name, garbage).
fn parse_hop(text: &str) -> Option<IpAddr> {
    let s = text.trim().trim_matches('"').trim();
    if let Some(rest) = s.strip_prefix('[') {
        // "[2001:db8::1]:4711"
        return rest.split(']').next()?.parse::<IpAddr>().ok();
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    // "192.0.2.1:8080"
    let (host, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The hops of the `X-Forwarded-For` headers, else of the `for=` parameters of `Forwarded`,
/// left to right; `None` when neither is present.
fn hops(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().map(String::from).unwrap_or_default())
            .collect()
    };
    let xff = values("x-forwarded-for");
    if !xff.is_empty() {
        return Some(
            xff.iter()
                .flat_map(|v| v.split(','))
                .map(parse_hop)
                .collect(),
        );
    }
    let fwd = values("forwarded");
    if fwd.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for element in fwd.iter().flat_map(|v| v.split(',')) {
        let value = element.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            k.trim().eq_ignore_ascii_case("for").then_some(v)
        });
        // An element without `for=` says nothing about the client; skip it.
        if let Some(v) = value {
            out.push(parse_hop(v));
        }
    }
    Some(out)
}

impl TrustedProxies {
    /// Parses CIDRs (a bare address is one host); names the first entry that does not parse.
    pub fn parse(items: &[String]) -> Result<Self, String> {
        let nets = keyward_core::user::parse_networks(items)
            .map_err(|e| format!("trusted_proxies: {e}"))?;
        Ok(TrustedProxies { nets })
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address for a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let Some(hops) = hops(headers) else {
            return peer;
        };
        let mut nearest = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => nearest = ip.to_canonical(),
                Some(ip) => return ip.to_canonical(),
                // An unusable hop: the last proxy we trust saw it; that proxy is the client.
                None => return nearest,
            }
        }
        nearest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(items: &[&str]) -> TrustedProxies {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        TrustedProxies::parse(&items).unwrap_or_default()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = v.parse() {
                h.append(*k, v);
            }
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn item11_headers_count_only_from_trusted_peers() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(p.client(ip("10.1.2.3"), &h), ip("203.0.113.9"));
        assert_eq!(p.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        assert_eq!(
            TrustedProxies::default().client(ip("10.1.2.3"), &h),
            ip("10.1.2.3")
        );
        assert_eq!(p.client(ip("10.1.2.3"), &HeaderMap::new()), ip("10.1.2.3"));
    }

    #[test]
    fn item11_the_right_most_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.7"]);
        // The client forged the first hop; our proxies appended the rest.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4, 203.0.113.9"),
            ("x-forwarded-for", "10.0.0.2"),
        ]);
        assert_eq!(p.client(ip("192.0.2.7"), &h), ip("203.0.113.9"));
        // Only proxies: the left-most one.
        let h = headers(&[("x-forwarded-for", "10.0.0.5, 10.0.0.2")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.5"));
        // Garbage right of the client: the proxy that wrote it is the client.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, nonsense, 10.0.0.2")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.2"));
        // IPv4-mapped peers count as IPv4.
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(p.client(ip("::ffff:10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn item11_forwarded_for_is_read_with_ports_quotes_and_brackets() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[(
            "forwarded",
            "for=1.2.3.4, for=\"[2001:db8::17]:4711\";proto=https, for=10.0.0.3:80;by=10.0.0.1",
        )]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("2001:db8::17"));
        let h = headers(&[("forwarded", "For=198.51.100.4:1234")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("198.51.100.4"));
        // X-Forwarded-For wins when both are present.
        let h = headers(&[
            ("forwarded", "for=198.51.100.4"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn item11_bad_cidrs_are_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33".to_string()]).is_err());
        assert!(TrustedProxies::parse(&["::1".to_string(), "fd00::/8".to_string()]).is_ok());
    }
}
