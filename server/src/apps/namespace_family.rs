//! Generic namespaces made on demand by a pattern of `--namespaces`
//! (`/tenant-*`): the name check at connect, the namespaces opened for the
//! publish API, and the sweep that forgets the ones nobody uses.
//!
//! socketioxide's router creates a namespace (and its adapter: Redis
//! subscriptions in a cluster) for every name a pattern route matches, before
//! any middleware runs, and keeps it for the life of the process. Clients
//! choose those names, so without a sweep a client could make a node hold any
//! number of them. A namespace a pattern made is deleted once it has had no
//! socket on this node and no connect attempt or publish for
//! [`IDLE_BEFORE_SWEEP`] (like Node's `cleanupEmptyChildNamespaces`); a socket
//! that connects later gets a fresh one. The router also matches characters
//! iorelay's names do not allow (`/tenant-a b`); those connects are refused as
//! unknown namespaces.
//!
//! The sweep alone does not bound them: a client that stays connected keeps
//! every namespace it joined, and one connection may join a hundred a second.
//! So a node holds at most `--max-pattern-namespaces` of them; a connect that
//! would make one more is refused `too_many_namespaces` (and the namespace the
//! router made for it is swept), while names already held stay open.
//!
//! The router only makes a namespace for a connecting socket, so a node
//! without sockets in `/tenant-a` has no `/tenant-a` to publish through, while
//! other nodes of the cluster may have sockets there. [`NamespaceFamily::open`]
//! makes it with the pattern's own connect handler, as the router would have,
//! and waits for its adapter (Redis: its subscriptions) so that broadcasts,
//! acks and socket listings reach the other nodes.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::handler::ConnectHandler;
use socketioxide::operators::BroadcastOperators;
use tokio_util::sync::CancellationToken;

use crate::backends::publisher::PatternNamespaces;
use crate::ops::metrics;
use crate::protocol::ErrorCode;
use crate::protocol::namespace_pattern::{NamespacePattern, NamespaceTable};
use crate::socket::NodeAdapter;

/// How long a namespace a pattern made stays without sockets, connect
/// attempts and publishes before it is deleted; longer than any connect
/// middleware runs (the connect hook is bounded by `--forward-timeout-ms`), so
/// a socket in the middle of connecting keeps its namespace.
pub const IDLE_BEFORE_SWEEP: Duration = Duration::from_secs(60);

/// How often the sweep looks.
const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// How long opening a namespace may wait for its adapter (Redis subscriptions).
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Adds the namespace at a path with a pattern's connect handler.
type Opener<A> = Arc<dyn Fn(String) -> <A as socketioxide_core::adapter::CoreAdapter<socketioxide::adapter::Emitter>>::InitRes + Send + Sync>;

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
    /// Every namespace the patterns' router or [`Self::open`] made (and only
    /// those: the sweep never touches a namespace registered by name, such as an app's).
    made: Mutex<HashMap<String, Made>>,
    /// The patterns' routes, as socketioxide's router has them, to the way to
    /// add one of their namespaces.
    openers: RwLock<matchit::Router<Opener<A>>>,
    /// Held while a namespace is opened, so that two publishes do not both add
    /// one (the second would replace the first, whose subscriptions would stay).
    opening: tokio::sync::Mutex<()>,
    /// Most admitted namespaces held at once (`--max-pattern-namespaces`): a
    /// client's connect past it is refused; a publish's open first deletes the
    /// least recently wanted one without sockets (each holds Redis subscriptions).
    max_made: usize,
}

/// What is known of a namespace the router made.
#[derive(Debug, Clone, Copy)]
struct Made {
    /// Last connect attempt, disconnect or publish.
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
            openers: RwLock::new(matchit::Router::new()),
            opening: tokio::sync::Mutex::new(()),
            max_made,
        })
    }

    /// Serves the namespaces of `pattern` with `handler` (whose first
    /// middleware is [`Self::admit`]): for connecting sockets, through
    /// socketioxide's router, and for publishes, through [`Self::open`].
    pub fn serve<C, T>(&self, pattern: &NamespacePattern, handler: C) -> Result<(), String>
    where
        C: ConnectHandler<A, T>,
        T: Send + Sync + 'static,
    {
        let route = pattern.route();
        self.io
            .dyn_ns(route.clone(), handler.clone())
            .map_err(|e| e.to_string())?;
        let io = self.io.clone();
        let opener: Opener<A> = Arc::new(move |path| io.ns(path, handler.clone()));
        match self.openers.write() {
            Ok(mut openers) => openers.insert(route, opener).map_err(|e| e.to_string()),
            Err(_) => Err("the pattern table is poisoned".to_owned()),
        }
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

    /// The namespace at `path`, a name a pattern admits, for a publish: the
    /// node's own, else one made now with the pattern's connect handler (and,
    /// with Redis, subscribed) that the sweep deletes once unused. `None` when
    /// no pattern admits the name.
    ///
    /// Opens wait for each other. socketioxide's router does not wait for them:
    /// it inserts the namespace it makes for a client once that one's adapter
    /// is ready, replacing one of the same name. A client whose first connect
    /// to a name on this node comes within an open's Redis round trips may be
    /// left in the replaced namespace, as when two clients are a name's first
    /// on a node at once (the router's own race).
    pub async fn open(&self, path: &str) -> Result<Option<BroadcastOperators<A>>, String> {
        if self.served.pattern_of(path).is_none() {
            return Ok(None);
        }
        if let Some(operators) = self.io.of(path) {
            self.touch(path);
            return Ok(Some(operators));
        }
        let _one_at_a_time = self.opening.lock().await;
        if let Some(operators) = self.io.of(path) {
            self.touch(path);
            return Ok(Some(operators));
        }
        let opener = match self.openers.read() {
            Ok(openers) => openers.at(path).ok().map(|m| m.value.clone()),
            Err(_) => None,
        };
        let Some(opener) = opener else {
            return Ok(None);
        };
        self.make_room(self.max_made);
        // Noted first: the sweep must know it as made by the family once it appears.
        self.note(path, true);
        let added =
            match tokio::time::timeout(OPEN_TIMEOUT, A::added(opener(path.to_owned()))).await {
                Ok(added) => added,
                Err(_) => Err(format!(
                    "the adapter of {path} was not ready within {OPEN_TIMEOUT:?}"
                )),
            };
        if let Err(e) = added {
            // Dropped before it was ready, it was never added; a socket may have made one since.
            if self.io.of(path).is_none() {
                self.forget(path);
            }
            return Err(e);
        }
        tracing::debug!(namespace = path, "pattern namespace opened for a publish");
        Ok(self.io.of(path))
    }

    /// Notes that `path` is in use now (a publish, a socket leaving) if the
    /// family made it: the sweep keeps it a while. A namespace registered by
    /// name (`/`, an app's) is not noted, so the sweep never deletes it.
    pub fn touch(&self, path: &str) {
        if let Ok(mut made) = self.made.lock()
            && let Some(entry) = made.get_mut(path)
        {
            entry.wanted = Instant::now();
        }
    }

    /// Deletes the least recently wanted namespace without sockets once the
    /// family holds `max` (`--max-pattern-namespaces`).
    fn make_room(&self, max: usize) {
        let mut oldest: Vec<(Instant, String)> = match self.made.lock() {
            Ok(made) if made.len() >= max => made
                .iter()
                .map(|(path, m)| (m.wanted, path.clone()))
                .collect(),
            _ => return,
        };
        oldest.sort();
        for (_, path) in oldest {
            let empty = self.io.of(&path).is_none_or(|ns| ns.sockets().is_empty());
            if empty {
                self.forget(&path);
                return;
            }
        }
    }

    /// Deletes a namespace the family made.
    fn forget(&self, path: &str) {
        if self.io.of(path).is_some() {
            self.io.delete_ns(path);
        }
        if let Ok(mut made) = self.made.lock() {
            made.remove(path);
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
            self.forget(&path);
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

impl<A: NodeAdapter> PatternNamespaces<A> for NamespaceFamily<A> {
    fn open<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<BroadcastOperators<A>>, String>> {
        Box::pin(NamespaceFamily::open(self, path))
    }

    fn touch(&self, path: &str) {
        NamespaceFamily::touch(self, path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use socketioxide::adapter::LocalAdapter;
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

    /// Waits (bounded) until `namespace` holds `n` sockets.
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

    /// Polls the session `sid` (bounded) until it carries the CONNECT_ERROR
    /// of `namespace`; the polled body.
    async fn connect_error<S, B>(svc: &mut S, sid: &str, namespace: &str) -> String
    where
        S: Service<http::Request<Body>, Response = http::Response<B>>,
        S::Error: std::fmt::Debug,
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        let packet = format!("44{namespace},");
        let refused = async {
            loop {
                let polled = request(svc, "GET", sid, "").await;
                if polled.contains(&packet) {
                    return polled;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), refused)
            .await
            .expect("refusal")
    }

    /// Serves `/tenant-*` through `family`, noting disconnects as the relay does.
    fn serve_tenants(family: &Arc<NamespaceFamily<LocalAdapter>>) {
        let (on_leave, on_admit) = (family.clone(), family.clone());
        let handler = (async move |socket: SocketRef| {
            let family = on_leave.clone();
            socket.on_disconnect(async move |s: SocketRef| family.touch(s.ns()));
        })
        .with(async move |socket: SocketRef| on_admit.admit(&socket));
        let pattern = NamespacePattern::parse("/tenant-*").expect("pattern");
        family.serve(&pattern, handler).expect("route");
    }

    /// Opens an Engine.IO session; its `&sid=` query.
    async fn open_session<S, B>(svc: &mut S) -> String
    where
        S: Service<http::Request<Body>, Response = http::Response<B>>,
        S::Error: std::fmt::Debug,
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        let open = request(svc, "GET", "", "").await;
        let sid = open
            .split("\"sid\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("handshake sid");
        format!("&sid={sid}")
    }

    #[tokio::test]
    async fn publishes_open_namespaces_of_patterns_that_clients_then_share() {
        let (mut svc, io) = SocketIo::builder().build_svc();
        io.ns("/", async || {});
        io.ns("/chat", async || {});
        let family = NamespaceFamily::new(
            io.clone(),
            &["/".to_owned(), "/tenant-*".to_owned(), "/*".to_owned()],
            10,
        );
        serve_tenants(&family);

        assert!(family.open("/tenant-a").await.expect("opened").is_some());
        assert!(io.of("/tenant-a").is_some());
        // Names no pattern admits are not opened; a namespace registered by name is only looked up.
        for refused in ["/tenant-a~b", "/tenant-", "/a/b"] {
            assert!(
                family.open(refused).await.expect("answer").is_none(),
                "{refused}"
            );
            assert!(io.of(refused).is_none(), "{refused}");
        }
        assert!(family.open("/chat").await.expect("found").is_some());
        assert!(family.sweep(Duration::ZERO).iter().all(|ns| ns != "/chat"));

        // A client of the opened namespace goes through the pattern's handler.
        let sid = open_session(&mut svc).await;
        assert_eq!(request(&mut svc, "POST", &sid, "40/tenant-a,").await, "ok");
        sockets_become(&io, "/tenant-a", 1).await;
        assert!(family.sweep(Duration::ZERO).is_empty(), "in use");
        assert_eq!(request(&mut svc, "POST", &sid, "41/tenant-a,").await, "ok");
        sockets_become(&io, "/tenant-a", 0).await;
        assert!(
            family.open("/tenant-a").await.expect("found").is_some(),
            "a publish keeps it wanted"
        );
        assert!(family.sweep(IDLE_BEFORE_SWEEP).is_empty());
        assert_eq!(family.sweep(Duration::ZERO), ["/tenant-a"]);
    }

    #[tokio::test]
    async fn a_full_family_forgets_its_least_recently_wanted_namespace_without_sockets() {
        let (_svc, io) = SocketIo::builder().build_svc();
        let family = NamespaceFamily::new(io.clone(), &["/tenant-*".to_owned()], 10);
        serve_tenants(&family);
        for ns in ["/tenant-1", "/tenant-2", "/tenant-3"] {
            family.open(ns).await.expect("opened");
        }
        family.touch("/tenant-1");
        family.make_room(3);
        assert!(io.of("/tenant-2").is_none());
        assert!(io.of("/tenant-1").is_some() && io.of("/tenant-3").is_some());
        family.make_room(3);
        assert!(io.of("/tenant-3").is_some(), "below the bound: kept");
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
        serve_tenants(&family);

        let sid = open_session(&mut svc).await;
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
        let refused = connect_error(&mut svc, &sid, "/tenant-a~b").await;
        assert!(refused.contains("Invalid namespace"), "{refused}");
        assert_eq!(family.sweep(Duration::from_secs(60)), ["/tenant-a~b"]);

        // Two held at most: /tenant-b makes the second, /tenant-c is one too many.
        assert_eq!(request(&mut svc, "POST", &sid, "40/tenant-b,").await, "ok");
        sockets_become(&io, "/tenant-b", 1).await;
        assert_eq!(request(&mut svc, "POST", &sid, "40/tenant-c,").await, "ok");
        let too_many = connect_error(&mut svc, &sid, "/tenant-c").await;
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
        // Namespaces registered by name are never swept, also once a socket left
        // them (the relay notes every disconnect).
        for named in ["/", "/tenant-admin"] {
            family.touch(named);
        }
        assert!(family.sweep(Duration::ZERO).is_empty());
        assert!(io.of("/tenant-admin").is_some() && io.of("/").is_some());
        assert!(io.of("/other").is_some());
    }
}
