//! The Django Channels bridge: `group_send` from Django reaches Socket.IO sockets.
//!
//! Django code pushes with `async_to_sync(channel_layer.group_send)("orders",
//! {"type": "order.update", ...})` on a `channels_redis` layer. With
//! `--django-layer` iorelay reads that layer as a member of the groups its
//! sockets are in: the group `orders` is the room `orders` of
//! `--django-namespace`, the `type` the event name, the rest of the dict the
//! one argument; a group matching `--django-user-group` (`user.{id}`) is that
//! user's notification, delivered through the one notification path.
//!
//! Layout: [`message`] decodes what the layer stores (random prefix, Fernet,
//! msgpack), [`groups`] names groups, keys and channels as `channels_redis`
//! does, [`apply`] acts through the [`Publisher`], [`pubsub`] and
//! [`core_layer`] read the two kinds of layer, [`membership`] tells which
//! groups this node's sockets are in. A bad message is counted
//! (`iorelay_django_bridge_messages_total`), logged (repeats limited), and
//! skipped; it never stops the bridge. `/readyz` has a `django_bridge` check.

pub mod apply;
pub mod core_layer;
pub mod groups;
pub mod membership;
pub mod message;
pub mod pubsub;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backends::publisher::Publisher;
use crate::config::{DjangoConfig, DjangoLayerKind};
use crate::ops::health::Health;
use crate::ops::metrics;
use apply::{Outcome, Routes, Users};
use groups::{GroupMap, Inbox};
use membership::Members;
use message::{Codec, RejectReason, Rejection};

/// Readiness checks of the bridge, one per layer host (`--django-layer` takes at most this many).
pub const HEALTH_CHECKS: [&str; 8] = [
    "django_bridge",
    "django_bridge_2",
    "django_bridge_3",
    "django_bridge_4",
    "django_bridge_5",
    "django_bridge_6",
    "django_bridge_7",
    "django_bridge_8",
];

/// Decodes and applies layer messages, counting each outcome.
pub struct Bridge {
    codec: Codec,
    routes: Routes,
    publisher: Arc<dyn Publisher>,
}

impl Bridge {
    /// A bridge for `config`, acting through `publisher`.
    pub fn new(config: &DjangoConfig, publisher: Arc<dyn Publisher>) -> Self {
        let prefix_len = match config.django_layer_kind {
            DjangoLayerKind::Core => message::CORE_RANDOM_PREFIX,
            DjangoLayerKind::Pubsub => 0,
        };
        Self {
            codec: Codec::new(
                prefix_len,
                &config.django_encryption_keys,
                config.django_max_message_bytes,
            ),
            routes: Routes {
                namespace: config.django_namespace.clone(),
                groups: GroupMap::new(&config.django_user_group),
            },
            publisher,
        }
    }

    /// Applies a message published on `group`'s pub/sub channel.
    pub async fn on_group_channel(&self, group: &str, raw: &[u8]) {
        match self.codec.decode(raw) {
            Ok(message) => {
                let outcome = apply::apply(
                    self.publisher.as_ref(),
                    &self.routes,
                    group,
                    &message,
                    Users::EveryNode(raw),
                )
                .await;
                count(outcome, group, raw.len());
            }
            Err(rejection) => count(Err(rejection), group, raw.len()),
        }
    }

    /// Applies a message popped from `inbox`: once per group of ours it lists;
    /// user groups only from the shared users' inbox (`users_inbox`).
    pub async fn on_inbox(&self, inbox: &Inbox, raw: &[u8], users_inbox: bool) {
        let users = if users_inbox {
            Users::OnlyHere
        } else {
            Users::Ignore
        };
        let message = match self.codec.decode(raw) {
            Ok(message) => message,
            Err(rejection) => return count(Err(rejection), "?", raw.len()),
        };
        let mut groups: Vec<&str> = message
            .channels
            .iter()
            .filter_map(|c| inbox.group_of(c))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        if groups.is_empty() {
            let first = message.channels.first().map(|c| clip(c));
            let rejection = Rejection::new(
                RejectReason::UnknownGroup,
                format!(
                    "for none of this inbox's channels ({} listed, the first {first:?})",
                    message.channels.len()
                ),
            );
            return count(Err(rejection), "?", raw.len());
        }
        for group in groups {
            let outcome = apply::apply(
                self.publisher.as_ref(),
                &self.routes,
                group,
                &message,
                users,
            )
            .await;
            count(outcome, group, raw.len());
        }
    }
}

/// At most the first 100 characters of a name from the layer, for a log line.
fn clip(name: &str) -> &str {
    name.char_indices()
        .nth(100)
        .map_or(name, |(end, _)| &name[..end])
}

/// Counts an outcome; a rejection is also logged (repeats limited by the log layer).
fn count(outcome: Result<Outcome, Rejection>, group: &str, bytes: usize) {
    let group = clip(group);
    match outcome {
        Ok(Outcome::Applied) => {
            metrics::django_bridge_message("applied");
            tracing::debug!(group, "applied a Django group message");
        }
        Ok(Outcome::Ignored) => metrics::django_bridge_message("ignored"),
        Err(rejection) => {
            metrics::django_bridge_message(rejection.reason.as_str());
            tracing::warn!(
                group,
                reason = rejection.reason.as_str(),
                detail = rejection.detail,
                bytes,
                "rejected a Django channel-layer message"
            );
        }
    }
}

/// Starts the bridge when `--django-layer` is set; it runs until `stop`.
///
/// An unreachable layer is not an error: the bridge keeps trying and
/// readiness says why it is not ready. With a core layer, the returned task
/// ends once the node has left its groups after `stop`: await it before exiting.
pub fn spawn(
    config: &DjangoConfig,
    publisher: Arc<dyn Publisher>,
    members: Members,
    node_id: &str,
    health: Health,
    stop: CancellationToken,
) -> Option<JoinHandle<()>> {
    if config.django_layer.is_empty() {
        return None;
    }
    let bridge = Arc::new(Bridge::new(config, publisher));
    match config.django_layer_kind {
        DjangoLayerKind::Pubsub => {
            pubsub::spawn(config, bridge, health, stop);
            None
        }
        DjangoLayerKind::Core => Some(core_layer::spawn(
            config, bridge, members, node_id, health, stop,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_logs_are_clipped() {
        assert_eq!(clip("orders"), "orders");
        assert_eq!(clip(&"é".repeat(300)).chars().count(), 100);
    }
}
