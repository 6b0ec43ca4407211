//! Connections held at once, per node and per address, under two caps.
//!
//! Both the TCP admission ([`super::tcp`]) and the Engine.IO admission
//! ([`super::connections`]) count what a node and each address hold, refuse
//! past a cap and give the slot back when the connection ends: one counter
//! serves both.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Which cap a refused connection would have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The node's.
    Node,
    /// The address's.
    Address,
}

/// Connections held, per node and per address.
pub struct Held {
    max_total: usize,
    max_per_address: usize,
    // A std lock: held for a counter update, never across an await.
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl Held {
    /// Caps of `max_total` connections and `max_per_address` per address (0 = none).
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            max_total,
            max_per_address,
            open: Mutex::default(),
        }
    }

    /// Takes a slot for `address` (its own cap applies when `per_address`);
    /// returns how many the node holds then.
    pub fn take(&self, address: IpAddr, per_address: bool) -> Result<usize, Full> {
        let Ok(mut open) = self.open.lock() else {
            return Err(Full::Node);
        };
        if self.max_total > 0 && open.total >= self.max_total {
            return Err(Full::Node);
        }
        let mine = open.by_address.entry(address).or_default();
        if per_address && self.max_per_address > 0 && *mine >= self.max_per_address {
            return Err(Full::Address);
        }
        *mine += 1;
        open.total += 1;
        Ok(open.total)
    }

    /// Gives a slot of `address` back; returns how many the node holds then.
    pub fn give_back(&self, address: IpAddr) -> usize {
        let Ok(mut open) = self.open.lock() else {
            return 0;
        };
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_address.remove(&address);
            }
        }
        open.total
    }

    /// Connections held now.
    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.open.lock().map(|o| o.total).unwrap_or_default()
    }

    /// Addresses holding at least one connection now.
    #[cfg(test)]
    pub fn addresses(&self) -> usize {
        self.open
            .lock()
            .map(|o| o.by_address.len())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn caps_hold_and_slots_come_back() {
        let held = Held::new(3, 2);
        assert_eq!(held.take(ip(1), true), Ok(1));
        assert_eq!(held.take(ip(1), true), Ok(2));
        assert_eq!(held.take(ip(1), true), Err(Full::Address));
        assert_eq!(
            held.take(ip(1), false),
            Ok(3),
            "the address cap may be waived"
        );
        assert_eq!(held.take(ip(2), true), Err(Full::Node));
        for _ in 0..3 {
            held.give_back(ip(1));
        }
        assert_eq!(held.total(), 0);
        assert_eq!(held.addresses(), 0);
    }
}
