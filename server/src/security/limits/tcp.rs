//! Admission of TCP connections: every accepted connection counts, not only handshakes.
//!
//! The Engine.IO limits ([`super::connections`]) see requests; a client that
//! opens connections and never sends a request, or dribbles header bytes,
//! holds a file descriptor without ever reaching them. This cap is checked at
//! `accept`, before a byte is read: the node keeps file descriptors for the
//! clients it serves, and one address cannot take them all.

use std::net::IpAddr;
use std::sync::Arc;

use crate::config::TrustedProxy;
use crate::ops::metrics;
use crate::security::limits::held::{Full, Held};

/// Open TCP connections of one node, with the caps they may not pass.
pub struct TcpAdmission {
    held: Held,
    exempt: Vec<TrustedProxy>,
}

/// Why a TCP connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpRefusal {
    /// The node holds `--max-tcp-connections`.
    NodeFull,
    /// The address holds `--max-tcp-connections-per-ip`.
    PerAddress,
}

impl TcpRefusal {
    /// The label of `iorelay_rate_limited_total`.
    pub fn metric_label(self) -> &'static str {
        match self {
            TcpRefusal::NodeFull => "tcp_connections",
            TcpRefusal::PerAddress => "tcp_connections_per_ip",
        }
    }
}

impl TcpAdmission {
    /// Caps of `max_total` connections and `max_per_address` per peer (0 = none);
    /// peers in `exempt` (trusted proxies carry many clients) have no per-address cap.
    pub fn new(max_total: usize, max_per_address: usize, exempt: Vec<TrustedProxy>) -> Arc<Self> {
        Arc::new(Self {
            held: Held::new(max_total, max_per_address),
            exempt,
        })
    }

    /// Takes a slot for a connection from `peer`, or says why not.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<TcpSlot, TcpRefusal> {
        let per_address = !self.exempt.iter().any(|net| net.contains(peer));
        let total = self
            .held
            .take(peer, per_address)
            .map_err(|full| match full {
                Full::Node => TcpRefusal::NodeFull,
                Full::Address => TcpRefusal::PerAddress,
            })?;
        metrics::tcp_connections(total);
        Ok(TcpSlot {
            admission: self.clone(),
            peer,
        })
    }

    /// Connections held now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.held.total()
    }

    fn release(&self, peer: IpAddr) {
        let total = self.held.give_back(peer);
        metrics::tcp_connections(total);
    }
}

/// One admitted connection; its slot is released when it is dropped.
pub struct TcpSlot {
    admission: Arc<TcpAdmission>,
    peer: IpAddr,
}

impl Drop for TcpSlot {
    fn drop(&mut self) {
        self.admission.release(self.peer);
    }
}

/// The connection cap when none is configured: what the open-file limit leaves
/// after a reserve for Redis, backends, logs and the listener itself.
pub fn default_max_connections(open_file_limit: u64) -> usize {
    const RESERVE: u64 = 256;
    usize::try_from(open_file_limit.saturating_sub(RESERVE).max(64)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn caps_hold_and_slots_release_on_drop() {
        let admission = TcpAdmission::new(3, 2, vec![]);
        let a = admission.admit(ip(1)).expect("first");
        let b = admission.admit(ip(1)).expect("second");
        assert_eq!(admission.admit(ip(1)).err(), Some(TcpRefusal::PerAddress));
        let c = admission.admit(ip(2)).expect("another address");
        assert_eq!(admission.admit(ip(3)).err(), Some(TcpRefusal::NodeFull));
        drop(a);
        assert_eq!(admission.open(), 2);
        let d = admission.admit(ip(1)).expect("slot freed");
        drop((b, c, d));
        assert_eq!(admission.open(), 0);
        assert_eq!(admission.held.addresses(), 0);
    }

    #[test]
    fn trusted_proxies_have_no_per_address_cap() {
        let proxy = "10.0.0.9".parse().expect("address");
        let admission = TcpAdmission::new(0, 1, vec![proxy]);
        let _a = admission.admit(ip(9)).expect("first");
        let _b = admission
            .admit(ip(9))
            .expect("a proxy carries many clients");
        let _c = admission.admit(ip(1)).expect("first");
        assert_eq!(admission.admit(ip(1)).err(), Some(TcpRefusal::PerAddress));
    }

    #[test]
    fn the_default_cap_leaves_a_reserve() {
        assert_eq!(default_max_connections(1024), 768);
        assert_eq!(default_max_connections(100), 64);
        assert_eq!(default_max_connections(1 << 20), (1 << 20) - 256);
    }
}
