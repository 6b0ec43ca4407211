//! Generic namespaces made on demand by a pattern of `--namespaces`
//! (`/tenant-*`): the name check at connect, and the sweep that forgets the
//! ones nobody uses.
//!
//! socketioxide's router creates a namespace (and its adapter: Redis
//! subscriptions in a cluster) for every name a pattern route matches, before
//! any middleware runs, and keeps it for the life of the process. Clients
//! choose those names, so without a sweep a client could make a node hold any
//! number of them. A namespace a pattern made is deleted once it has had no
//! socket on this node and no connect attempt for [`IDLE_BEFORE_SWEEP`] (like
//! Node's `cleanupEmptyChildNamespaces`); a socket that connects later gets a
//! fresh one. The router also matches characters iorelay's names do not allow
//! (`/tenant-a b`); those connects are refused as unknown namespaces.
//!
//! The sweep alone does not bound them: a client that stays connected keeps
//! every namespace it joined, and one connection may join a hundred a second.
//! So a node holds at most `--max-pattern-namespaces` of them; a connect that
//! would make one more is refused `too_many_namespaces` (and the namespace the
//! router made for it is swept), while names already held stay open.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use tokio_util::sync::CancellationToken;

use crate::ops::metrics;
use crate::protocol::ErrorCode;
use crate::protocol::namespace_pattern::NamespaceTable;
use crate::socket::NodeAdapter;

/// How long a namespace a pattern made stays without sockets and connect
/// attempts before it is deleted; longer than any connect middleware runs
/// (the connect hook is bounded by `--forward-timeout-ms`), so a socket in the
/// middle of connecting keeps its namespace.
pub const IDLE_BEFORE_SWEEP: Duration = Duration::from_secs(60);

/// How often the sweep looks.
const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// Why a connect to a namespace of a pattern was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum FamilyRefusal {
    /// A name the router matched but iorelay's names do not allow: the words
    /// socketioxide itself answers an unknown namespace with.
    InvalidNamespace,
    /// The node holds `--max-pattern-namespaces` namespaces of patterns already.
    TooMany,
}

impl fmt::Display for FamilyRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidNamespace => f.write_str("Invalid namespace"),
            Self::TooMany => write!(
                f,
                "{}: this node holds as many namespaces of patterns as it may; try again later",
                ErrorCode::TooManyNamespaces.as_str()
            ),
        }
    }
}

/// The namespaces of a node's patterns: which names they admit, when each was last wanted.
pub struct NamespaceFamily<A: NodeAdapter> {
    io: SocketIo<A>,
    /// Exact generic namespaces and the patterns.
    served: NamespaceTable<()>,
    /// Every namespace the patterns' router made (and only those: the sweep
    /// never touches a namespace registered by name, such as an app's).
    made: Mutex<HashMap<String, Made>>,
    /// Most admitted namespaces held at once.
    max_made: usize,
}

/// What is known of a namespace the router made.
#[derive(Debug, Clone, Copy)]
struct Made {
    /// Last connect attempt or disconnect.
    wanted: Instant,
    /// Whether its name is one a pattern admits (else nobody can ever connect).
    admitted: bool,
}

impl<A: NodeAdapter> NamespaceFamily<A> {
    /// The family of `served` (the generic namespaces and patterns) on `io`,
    /// holding at most `max_made` namespaces of patterns at once.
    pub fn new(io: SocketIo<A>, served: &[String], max_made: usize) -> Arc<Self> {
        Arc::new(Self {
            io,
            served: NamespaceTable::new(served.iter().map(|ns| (ns.clone(), ()))),
            made: Mutex::new(HashMap::new()),
            max_made,
        })
    }

    /// Connect middleware of pattern namespaces (the first to run, on every
    /// namespace the router makes): refuses names outside the pattern's
    /// characters, and new names once the node holds as many as it may, and
    /// notes that the namespace is wanted.
    pub fn admit(&self, socket: &SocketRef<A>) -> Result<(), FamilyRefusal> {
        let namespace = socket.ns();
        if self.served.pattern_of(namespace).is_none() {
            self.note(namespace, false);
            return Err(FamilyRefusal::InvalidNamespace);
        }
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let held = made.get(namespace).is_some_and(|m| m.admitted);
        let admitted = held || made.values().filter(|m| m.admitted).count() < self.max_made;
        made.insert(
            namespace.to_owned(),
            Made {
                wanted: Instant::now(),
                admitted,
            },
        );
        drop(made);
        if admitted {
            Ok(())
        } else {
            tracing::warn!(
                ns = namespace,
                max = self.max_made,
                "refused a new namespace of a pattern: the node holds as many as it may (--max-pattern-namespaces)"
            );
            metrics::rate_limited("pattern_namespaces");
            Err(FamilyRefusal::TooMany)
        }
    }

    /// Notes that `namespace`, made by the router, is in use now (a disconnect).
    pub fn wanted(&self, namespace: &str) {
        self.note(namespace, true);
    }

    fn note(&self, namespace: &str, admitted: bool) {
        if let Ok(mut made) = self.made.lock() {
            made.insert(
                namespace.to_owned(),
                Made {
                    wanted: Instant::now(),
                    admitted,
                },
            );
        }
    }

    /// Deletes the namespaces the router made that have no socket on this
    /// node and, for admitted names, no attempt for `idle`; returns their paths.
    pub fn sweep(&self, idle: Duration) -> Vec<String> {
        let mut swept = Vec::new();
        for ns in self.io.nsps() {
            let path = ns.ns_path().to_owned();
            let Some(made) = self.made.lock().ok().and_then(|m| m.get(&path).copied()) else {
                continue;
            };
            if !ns.sockets().is_empty() || (made.admitted && made.wanted.elapsed() < idle) {
                continue;
            }
            self.io.delete_ns(&path);
            if let Ok(mut made) = self.made.lock() {
                made.remove(&path);
            }
            swept.push(path);
        }
        swept
    }

    /// Sweeps every [`SWEEP_EVERY`] until `stop`.
    pub fn spawn_sweeper(self: Arc<Self>, stop: CancellationToken) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = every.tick() => {
                        let swept = self.sweep(IDLE_BEFORE_SWEEP);
                        if !swept.is_empty() {
                            tracing::debug!(count = swept.len(), "unused pattern namespaces deleted");
                        }
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use socketioxide::handler::ConnectHandler;
    use tower::{Service, ServiceExt};

    /// One long-polling request to the engine; the response body as text.
    async fn request<S, B>(svc: &mut S, method: &str, query: &str, body: &str) -> String
    where
        S: Service<http::Request<Body>, Response = http::Response<B>>,
        S::Error: std::fmt::Debug,
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("/socket.io/?EIO=4&transport=polling{query}"))
            .body(Body::from(body.to_owned()))
            .expect("request");
        let response = ServiceExt::<http::Request<Body>>::ready(svc)
            .await
            .expect("ready")
            .call(request)
            .await
            .expect("response");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits (bounded) until `/tenant-a` holds `n` sockets.
    async fn sockets_become(io: &SocketIo, namespace: &str, n: usize) {
        let wait = async {
            while io.of(namespace).map(|ns| ns.sockets().len()) != Some(n) {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("the socket count changes");
    }

    #[tokio::test]
    async fn namespaces_of_patterns_are_swept_once_unused() {
        let (mut svc, io) = SocketIo::builder().build_svc();
        io.ns("/", async || {});
        io.ns("/tenant-admin", async || {});
        // Served by another app, unknown to the family.
        io.ns("/other", async || {});
        let family = NamespaceFamily::new(
            io.clone(),
            &[
                "/".to_owned(),
                "/tenant-admin".to_owned(),
                "/tenant-*".to_owned(),
            ],
            2,
        );
        let (on_leave, on_admit) = (family.clone(), family.clone());
        let handler = (async move |socket: SocketRef| {
            let family = on_leave.clone();
            socket.on_disconnect(async move |s: SocketRef| family.wanted(s.ns()));
        })
        .with(async move |socket: SocketRef| on_admit.admit(&socket));
        io.dyn_ns("/tenant-{p1}", handler).expect("route");

        let open = request(&mut svc, "GET", "", "").await;
        let sid = open
            .split("\"sid\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("handshake sid")
            .to_owned();
        let sid = format!("&sid={sid}");
        assert_eq!(request(&mut svc, "POST", &sid, "40/tenant-a,").await, "ok");
        sockets_become(&io, "/tenant-a", 1).await;
        assert!(
            family.sweep(Duration::ZERO).is_empty(),
            "a namespace in use stays"
        );

        // A name the router matches but no pattern admits is refused, and swept.
        assert_eq!(
            request(&mut svc, "POST", &sid, "40/tenant-a~b,").await,
            "ok"
        );
        let refused = async {
            loop {
                let polled = request(&mut svc, "GET", &sid, "").await;
                if polled.contains("44/tenant-a~b,") {
                    return polled;
                }
            }
        };
        let refused = tokio::time::timeout(Duration::from_secs(5), refused)
            .await
            .expect("refusal");
        assert!(refused.contains("Invalid namespace"), "{refused}");
        assert_eq!(family.sweep(Duration::from_secs(60)), ["/tenant-a~b"]);

        // Two held at most: /tenant-b makes the second, /tenant-c is one too many.
        assert_eq!(request(&mut svc, "POST", &sid, "40/tenant-b,").await, "ok");
        sockets_become(&io, "/tenant-b", 1).await;
        assert_eq!(request(&mut svc, "POST", &sid, "40/tenant-c,").await, "ok");
        let too_many = async {
            loop {
                let polled = request(&mut svc, "GET", &sid, "").await;
                if polled.contains("44/tenant-c,") {
                    return polled;
                }
            }
        };
        let too_many = tokio::time::timeout(Duration::from_secs(5), too_many)
            .await
            .expect("refusal");
        assert!(too_many.contains("too_many_namespaces"), "{too_many}");
        assert_eq!(family.sweep(Duration::from_secs(60)), ["/tenant-c"]);
        assert_eq!(request(&mut svc, "POST", &sid, "41/tenant-b,").await, "ok");
        sockets_become(&io, "/tenant-b", 0).await;
        assert_eq!(family.sweep(Duration::ZERO), ["/tenant-b"]);

        assert_eq!(request(&mut svc, "POST", &sid, "41/tenant-a,").await, "ok");
        sockets_become(&io, "/tenant-a", 0).await;
        assert!(
            family.sweep(IDLE_BEFORE_SWEEP).is_empty(),
            "just left: kept a while"
        );
        assert_eq!(family.sweep(Duration::ZERO), ["/tenant-a"]);
        assert!(io.of("/tenant-a").is_none());
        // Namespaces registered by name are never swept.
        assert!(io.of("/tenant-admin").is_some() && io.of("/").is_some());
        assert!(io.of("/other").is_some());
    }
}
