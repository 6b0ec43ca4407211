//! Addresses, sockets and process facts: loopback-only targets, source
//! addresses spread over 127.0.0.2–127.0.0.254, the open-file limit, RSS.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use tokio::net::{TcpSocket, TcpStream};

/// A server to load: loopback only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where to connect.
    pub addr: SocketAddr,
    /// `Host` header value.
    pub host: String,
    /// Engine.IO path, with a trailing slash (`/socket.io/`).
    pub path: String,
}

/// Parses `http://127.0.0.1:3000[/path/]` (or `ws://`); refuses anything off
/// the loopback range 127.0.0.0/8, whatever the caller asks.
pub fn parse_target(url: &str) -> Result<Target> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
        .with_context(|| format!("{url}: only http:// and ws:// targets"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = authority
        .rsplit_once(':')
        .with_context(|| format!("{url}: the port is required"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("{url}: bad port {port:?}"))?;
    let ip: Ipv4Addr = if host == "localhost" {
        Ipv4Addr::LOCALHOST
    } else {
        host.parse()
            .with_context(|| format!("{url}: the host must be an IPv4 literal or localhost"))?
    };
    if !ip.is_loopback() {
        bail!("{url}: the load tool only targets 127.0.0.0/8");
    }
    let path = if path.is_empty() || path == "/" {
        "/socket.io/".to_owned()
    } else if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    Ok(Target {
        addr: SocketAddr::new(IpAddr::V4(ip), port),
        host: format!("{ip}:{port}"),
        path,
    })
}

/// First and last source addresses the clients use.
pub const SOURCE_FIRST: u8 = 2;
/// See [`SOURCE_FIRST`].
pub const SOURCE_LAST: u8 = 254;

/// The source addresses of worker `index` out of `workers`: disjoint slices
/// of 127.0.0.2–127.0.0.254, so no two processes compete for ports.
pub fn source_slice(index: usize, workers: usize) -> Vec<Ipv4Addr> {
    let all: Vec<Ipv4Addr> = (SOURCE_FIRST..=SOURCE_LAST)
        .map(|d| Ipv4Addr::new(127, 0, 0, d))
        .collect();
    let workers = workers.clamp(1, all.len());
    let index = index % workers;
    let per = all.len() / workers;
    let start = index * per;
    let end = if index + 1 == workers {
        all.len()
    } else {
        start + per
    };
    all[start..end].to_vec()
}

/// Connects to `addr` from `src` (bound before connect, ephemeral port).
pub async fn connect_from(src: IpAddr, addr: SocketAddr) -> Result<TcpStream> {
    let socket = match src {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .context("socket")?;
    socket
        .bind(SocketAddr::new(src, 0))
        .with_context(|| format!("bind {src}"))?;
    let stream = socket
        .connect(addr)
        .await
        .with_context(|| format!("connect {src} -> {addr}"))?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    Ok(stream)
}

/// Raises the soft open-file limit to the hard one; returns the new limit.
pub fn raise_nofile() -> u64 {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 0,
    }
}

/// Microseconds since the Unix epoch (comparable across processes of this machine).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Resident set size of a process in KiB (`VmRSS` of /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    parse_vmrss(&status).with_context(|| format!("no VmRSS for pid {pid}"))
}

/// The `VmRSS` value (KiB) of a /proc status text.
pub fn parse_vmrss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_loopback_only() {
        let t = parse_target("http://127.0.0.1:3000").expect("ok");
        assert_eq!(t.addr, "127.0.0.1:3000".parse().expect("addr"));
        assert_eq!(t.path, "/socket.io/");
        assert_eq!(t.host, "127.0.0.1:3000");
        let t = parse_target("ws://localhost:9/engine").expect("ok");
        assert_eq!(t.path, "/engine/");
        assert!(parse_target("http://127.9.9.9:1/").is_ok());
        assert!(parse_target("http://10.0.0.1:3000").is_err());
        assert!(parse_target("http://192.168.1.1:3000").is_err());
        assert!(parse_target("http://example.com:80").is_err());
        assert!(parse_target("https://127.0.0.1:443").is_err());
        assert!(parse_target("http://127.0.0.1").is_err());
    }

    #[test]
    fn source_slices_are_disjoint_and_cover_the_range() {
        for workers in [1usize, 2, 3, 7, 253, 400] {
            let mut all = Vec::new();
            for i in 0..workers.min(253) {
                let slice = source_slice(i, workers);
                assert!(!slice.is_empty());
                all.extend(slice);
            }
            assert_eq!(all.len(), 253, "workers {workers}");
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 253);
            assert_eq!(all[0], Ipv4Addr::new(127, 0, 0, 2));
            assert_eq!(all[252], Ipv4Addr::new(127, 0, 0, 254));
        }
    }

    #[test]
    fn reads_vmrss() {
        let status = "Name:\tnode\nVmPeak:\t 1000 kB\nVmRSS:\t   52344 kB\nThreads:\t7\n";
        assert_eq!(parse_vmrss(status), Some(52_344));
        assert_eq!(parse_vmrss("Name: x\n"), None);
    }
}
