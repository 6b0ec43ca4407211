//! Who is in which chat room, one entry per user however many tabs they have.
//!
//! Behind [`PresenceStore`] so a shared store can give cluster-wide member
//! lists when several nodes serve one room.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use crate::chat::history::StoreError;
use crate::events::chat::User;

/// Where chat rooms keep their members.
pub trait PresenceStore: Send + Sync + 'static {
    /// Records that socket `sid` of `user` is in `room`; returns the members after.
    fn join<'a>(
        &'a self,
        room: &'a str,
        sid: &'a str,
        user: &'a User,
    ) -> BoxFuture<'a, Result<Vec<User>, StoreError>>;

    /// Records that socket `sid` left `room`; returns the members after.
    fn leave<'a>(
        &'a self,
        room: &'a str,
        sid: &'a str,
    ) -> BoxFuture<'a, Result<Vec<User>, StoreError>>;

    /// The members of `room`.
    fn members<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Vec<User>, StoreError>>;

    /// Rooms with members and how many users each has.
    fn rooms(&self) -> BoxFuture<'_, Result<Vec<(String, usize)>, StoreError>>;
}

/// Sorted, one entry per user id.
pub fn distinct_users<'u>(users: impl Iterator<Item = &'u User>) -> Vec<User> {
    let by_id: BTreeMap<&str, &User> = users.map(|u| (u.id.as_str(), u)).collect();
    let mut members: Vec<User> = by_id.into_values().cloned().collect();
    members.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    members
}

/// One node's presence, in memory.
#[derive(Default)]
pub struct MemoryPresence {
    // A std mutex: held for a map update, never across an await.
    rooms: Mutex<HashMap<String, HashMap<String, User>>>,
}

impl MemoryPresence {
    fn update<T>(
        &self,
        f: impl FnOnce(&mut HashMap<String, HashMap<String, User>>) -> T,
    ) -> Result<T, StoreError> {
        let mut rooms = self
            .rooms
            .lock()
            .map_err(|_| StoreError("presence lock poisoned".to_owned()))?;
        Ok(f(&mut rooms))
    }
}

fn members_of(rooms: &HashMap<String, HashMap<String, User>>, room: &str) -> Vec<User> {
    rooms
        .get(room)
        .map(|sockets| distinct_users(sockets.values()))
        .unwrap_or_default()
}

impl PresenceStore for MemoryPresence {
    fn join<'a>(
        &'a self,
        room: &'a str,
        sid: &'a str,
        user: &'a User,
    ) -> BoxFuture<'a, Result<Vec<User>, StoreError>> {
        let result = self.update(|rooms| {
            rooms
                .entry(room.to_owned())
                .or_default()
                .insert(sid.to_owned(), user.clone());
            members_of(rooms, room)
        });
        Box::pin(std::future::ready(result))
    }

    fn leave<'a>(
        &'a self,
        room: &'a str,
        sid: &'a str,
    ) -> BoxFuture<'a, Result<Vec<User>, StoreError>> {
        let result = self.update(|rooms| {
            if let Some(sockets) = rooms.get_mut(room) {
                sockets.remove(sid);
                if sockets.is_empty() {
                    rooms.remove(room);
                }
            }
            members_of(rooms, room)
        });
        Box::pin(std::future::ready(result))
    }

    fn members<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Vec<User>, StoreError>> {
        Box::pin(std::future::ready(
            self.update(|rooms| members_of(rooms, room)),
        ))
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<(String, usize)>, StoreError>> {
        let result = self.update(|rooms| {
            rooms
                .iter()
                .map(|(room, sockets)| (room.clone(), distinct_users(sockets.values()).len()))
                .collect()
        });
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> User {
        User {
            id: format!("guest:{}", name.to_lowercase()),
            name: name.to_owned(),
        }
    }

    #[tokio::test]
    async fn one_entry_per_user_across_tabs() {
        let p = MemoryPresence::default();
        let ada = user("Ada");
        let bob = user("Bob");
        p.join("r", "s1", &ada).await.expect("join");
        p.join("r", "s2", &ada).await.expect("join");
        let members = p.join("r", "s3", &bob).await.expect("join");
        assert_eq!(members, vec![ada.clone(), bob.clone()]);
        let members = p.leave("r", "s1").await.expect("leave");
        assert_eq!(
            members,
            vec![ada.clone(), bob.clone()],
            "Ada still has a tab"
        );
        let members = p.leave("r", "s2").await.expect("leave");
        assert_eq!(members, vec![bob]);
        assert_eq!(p.rooms().await.expect("rooms"), vec![("r".to_owned(), 1)]);
        p.leave("r", "s3").await.expect("leave");
        assert!(p.rooms().await.expect("rooms").is_empty());
    }
}
