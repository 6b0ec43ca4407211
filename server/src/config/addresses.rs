//! Network values of the settings, parsed once, where clap or the TOML file
//! reads them: trusted proxies (`--trusted-proxies`) and backend URLs
//! (`--forward-url`, `--connect-url`). Each is shown as the text a user writes,
//! so `check-config` prints input that reads back the same.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde_with::{DeserializeFromStr, SerializeDisplay};
use url::Url;

/// A trusted proxy of `--trusted-proxies`: one address (`10.0.0.1`, `::1`) or
/// a network (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, DeserializeFromStr, SerializeDisplay)]
pub struct TrustedProxy(IpNet);

impl TrustedProxy {
    /// Whether `ip` is this proxy. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`,
    /// how a dual-stack listener sees an IPv4 peer) matches as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.0, ip) {
            (IpNet::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        self.0.contains(&ip)
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map(Self)
            .map_err(|_| format!("{text:?} is not an IP address or CIDR like 10.0.0.0/8"))
    }
}

impl fmt::Display for TrustedProxy {
    /// A single address as it was written, without `/32` or `/128`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

/// A namespace and the backend URL that serves it, written `NS=URL`
/// (`/=http://127.0.0.1:5000/socketio/event`), for `--forward-url` and `--connect-url`.
///
/// Parsing checks one pair; [`Config::validate`](super::Config::validate) checks the list (one URL per
/// namespace, generic namespaces only).
#[derive(Debug, Clone, PartialEq, Eq, DeserializeFromStr, SerializeDisplay)]
pub struct NamespaceUrl {
    /// The namespace path, e.g. `/admin`.
    pub namespace: String,
    /// Where to POST, always `http://`.
    pub url: Url,
}

impl FromStr for NamespaceUrl {
    type Err = String;

    fn from_str(pair: &str) -> Result<Self, String> {
        let Some((namespace, url)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not NS=URL"));
        };
        let (namespace, url) = (namespace.trim(), url.trim());
        match Url::parse(url) {
            Ok(parsed) if parsed.scheme() == "http" && parsed.has_host() => Ok(Self {
                namespace: namespace.to_owned(),
                url: parsed,
            }),
            _ => Err(format!(
                "{url:?} is not an http:// URL (TLS to backends is not supported; reach them over a private network)"
            )),
        }
    }
}

impl fmt::Display for NamespaceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.namespace, self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let net = |text: &str| text.parse::<TrustedProxy>();
        let ip = |text: &str| text.parse::<IpAddr>().expect("ip");
        let cidr = net("10.1.0.0/16").expect("cidr");
        assert!(cidr.contains(ip("10.1.200.3")));
        assert!(!cidr.contains(ip("10.2.0.1")));
        assert!(
            cidr.contains(ip("::ffff:10.1.0.9")),
            "an IPv4-mapped peer matches"
        );
        assert!(net("0.0.0.0/0").expect("all").contains(ip("10.0.0.9")));
        assert!(net("fd00::/8").expect("v6").contains(ip("fd12::1")));
        let one = net(" 10.0.0.1 ").expect("a bare address");
        assert!(one.contains(ip("10.0.0.1")) && !one.contains(ip("10.0.0.2")));
        assert!(net("::1").expect("v6 address").contains(ip("::1")));
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0/8", "::1/129"] {
            assert!(net(bad).is_err(), "{bad}");
        }
        for text in ["10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"] {
            assert_eq!(
                net(text).expect("valid").to_string(),
                text,
                "shown as written"
            );
        }
    }
}
