//! Which groups this node's sockets are in, for the core layer to join.
//!
//! A `channels_redis` core layer delivers a group message only to the
//! channels registered in the group, so a node registers in the groups its
//! own sockets need: every room of `--django-namespace` that has a socket
//! here (and is a valid group name; socket-id rooms are not groups), and the
//! user group of every user with a `/notifications` socket here.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use socketioxide::SocketIo;

use crate::protocol::notifications;
use crate::socket::NodeAdapter;

use super::groups::{GroupMap, Target, is_group_name};

/// The groups this node wants, by inbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Groups that are rooms of the bridge's namespace.
    pub rooms: BTreeSet<String>,
    /// Groups that are users' notifications.
    pub users: BTreeSet<String>,
}

/// Lists what this node's sockets want, now.
pub type Members = Arc<dyn Fn() -> BoxFuture<'static, Wanted> + Send + Sync>;

/// The groups of `io`'s local sockets, for a bridge on `namespace` mapping groups with `groups`.
pub fn local_groups<A: NodeAdapter>(
    io: SocketIo<A>,
    namespace: String,
    groups: GroupMap,
) -> Members {
    Arc::new(move || {
        let io = io.clone();
        let namespace = namespace.clone();
        let groups = groups.clone();
        Box::pin(async move {
            let mut wanted = Wanted::default();
            if let Some(ns) = io.of(namespace.as_str()) {
                let local = ns.local();
                let sids: HashSet<String> = local
                    .clone()
                    .sockets()
                    .iter()
                    .map(|s| s.id.to_string())
                    .collect();
                for room in local.rooms().await.unwrap_or_default() {
                    let room = room.as_ref();
                    if !sids.contains(room)
                        && is_group_name(room)
                        && groups.target(room) == Target::Room(room.to_owned())
                    {
                        wanted.rooms.insert(room.to_owned());
                    }
                }
            }
            if let Some(ns) = io.of(notifications::NAMESPACE) {
                for room in ns.local().rooms().await.unwrap_or_default() {
                    if let Some(user) = notifications::user_of_room(room.as_ref())
                        && let Some(group) = groups.user_group(user)
                    {
                        wanted.users.insert(group);
                    }
                }
            }
            wanted
        })
    })
}
