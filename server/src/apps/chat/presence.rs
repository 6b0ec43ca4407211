//! Who is in which chat room, one entry per user however many tabs they have.
//!
//! Behind [`PresenceStore`] so a shared store can give cluster-wide answers
//! when several nodes serve one room. The store answers in changes and
//! counts, never by rebuilding a room's member list: a join storm of N users
//! costs O(N log N) here, and member lists are read a page at a time
//! (ordered by user id, the cursor being the last id of the previous page).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use crate::apps::chat::history::StoreError;
use crate::protocol::chat::MembersPage;
use crate::protocol::user::User;

/// What a socket joining a room changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// Whether this was the user's first tab in the room (the user joined).
    pub first_tab: bool,
    /// Users in the room after the join.
    pub count: usize,
}

/// What a socket leaving a room changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// The user, when this was their last tab in the room (the user left).
    pub last_tab: Option<User>,
    /// Users in the room after the leave.
    pub count: usize,
}

/// Where chat rooms keep their members.
pub trait PresenceStore: Send + Sync + 'static {
    /// Records that socket `sid` of `user` is in `room` (again joining is a no-op).
    fn join<'a>(
        &'a self,
        room: &'a str,
        sid: &'a str,
        user: &'a User,
    ) -> BoxFuture<'a, Result<Joined, StoreError>>;

    /// Records that socket `sid` left `room`.
    fn leave<'a>(&'a self, room: &'a str, sid: &'a str) -> BoxFuture<'a, Result<Left, StoreError>>;

    /// Up to `limit` members with ids after `after`, ordered by id.
    fn page<'a>(
        &'a self,
        room: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<MembersPage, StoreError>>;

    /// Users in `room` now, and which of `user_ids` are among them.
    fn present<'a>(
        &'a self,
        room: &'a str,
        user_ids: &'a [String],
    ) -> BoxFuture<'a, Result<(usize, Vec<bool>), StoreError>>;

    /// Rooms that have members, with how many users each has.
    fn rooms(&self) -> BoxFuture<'_, Result<Vec<(String, usize)>, StoreError>>;

    /// Removes the sockets of nodes that stopped without leaving (a crash) and
    /// returns, per room, the users whose last tab that was. One node's store
    /// has nothing to reap.
    fn reap_dead_nodes(&self) -> BoxFuture<'_, Result<Vec<(String, User)>, StoreError>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
}

/// One room's members: users by id with their tab counts, and whose each socket is.
#[derive(Default)]
struct RoomMembers {
    users: BTreeMap<String, (User, usize)>,
    sockets: HashMap<String, String>,
}

/// One node's presence, in memory.
#[derive(Default)]
pub struct MemoryPresence {
    // A std mutex: held for a map update, never across an await.
    rooms: Mutex<HashMap<String, RoomMembers>>,
}

impl MemoryPresence {
    fn update<T>(
        &self,
        f: impl FnOnce(&mut HashMap<String, RoomMembers>) -> T,
    ) -> Result<T, StoreError> {
        let mut rooms = self
            .rooms
            .lock()
            .map_err(|_| StoreError("presence lock poisoned".to_owned()))?;
        Ok(f(&mut rooms))
    }
}

/// Selects a page from users ordered by id (shared by the stores).
pub fn page_after<'u>(
    users: impl Iterator<Item = &'u User>,
    limit: usize,
    count: usize,
) -> MembersPage {
    let mut members: Vec<User> = users.take(limit.saturating_add(1)).cloned().collect();
    let more = members.len() > limit;
    members.truncate(limit);
    MembersPage {
        next_cursor: more.then(|| members.last().map(|u| u.id.clone())).flatten(),
        members,
        count,
    }
}

impl PresenceStore for MemoryPresence {
    fn join<'a>(
        &'a self,
        room: &'a str,
        sid: &'a str,
        user: &'a User,
    ) -> BoxFuture<'a, Result<Joined, StoreError>> {
        let result = self.update(|rooms| {
            let members = rooms.entry(room.to_owned()).or_default();
            let mut first_tab = false;
            if !members.sockets.contains_key(sid) {
                members.sockets.insert(sid.to_owned(), user.id.clone());
                let entry = members
                    .users
                    .entry(user.id.clone())
                    .or_insert_with(|| (user.clone(), 0));
                entry.1 += 1;
                first_tab = entry.1 == 1;
            }
            Joined {
                first_tab,
                count: members.users.len(),
            }
        });
        Box::pin(std::future::ready(result))
    }

    fn leave<'a>(&'a self, room: &'a str, sid: &'a str) -> BoxFuture<'a, Result<Left, StoreError>> {
        let result = self.update(|rooms| {
            let Some(members) = rooms.get_mut(room) else {
                return Left {
                    last_tab: None,
                    count: 0,
                };
            };
            let mut last_tab = None;
            if let Some(id) = members.sockets.remove(sid)
                && let Some((user, tabs)) = members.users.get_mut(&id)
            {
                *tabs -= 1;
                if *tabs == 0 {
                    last_tab = Some(user.clone());
                    members.users.remove(&id);
                }
            }
            let count = members.users.len();
            if count == 0 {
                rooms.remove(room);
            }
            Left { last_tab, count }
        });
        Box::pin(std::future::ready(result))
    }

    fn page<'a>(
        &'a self,
        room: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<MembersPage, StoreError>> {
        let result = self.update(|rooms| match rooms.get(room) {
            Some(members) => {
                let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned()));
                let users = members
                    .users
                    .range((start, Bound::Unbounded))
                    .map(|(_, (user, _))| user);
                page_after(users, limit, members.users.len())
            }
            None => page_after(std::iter::empty(), limit, 0),
        });
        Box::pin(std::future::ready(result))
    }

    fn present<'a>(
        &'a self,
        room: &'a str,
        user_ids: &'a [String],
    ) -> BoxFuture<'a, Result<(usize, Vec<bool>), StoreError>> {
        let result = self.update(|rooms| match rooms.get(room) {
            Some(members) => (
                members.users.len(),
                user_ids
                    .iter()
                    .map(|id| members.users.contains_key(id))
                    .collect(),
            ),
            None => (0, vec![false; user_ids.len()]),
        });
        Box::pin(std::future::ready(result))
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<(String, usize)>, StoreError>> {
        let result = self.update(|rooms| {
            rooms
                .iter()
                .map(|(room, members)| (room.clone(), members.users.len()))
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
        let joined = |first_tab, count| Joined { first_tab, count };
        assert_eq!(
            p.join("r", "s1", &ada).await.expect("join"),
            joined(true, 1)
        );
        assert_eq!(
            p.join("r", "s2", &ada).await.expect("join"),
            joined(false, 1)
        );
        assert_eq!(
            p.join("r", "s2", &ada).await.expect("join"),
            joined(false, 1)
        );
        assert_eq!(
            p.join("r", "s3", &bob).await.expect("join"),
            joined(true, 2)
        );
        let left = p.leave("r", "s1").await.expect("leave");
        assert_eq!(left.last_tab, None, "Ada still has a tab");
        assert_eq!(left.count, 2);
        let left = p.leave("r", "s2").await.expect("leave");
        assert_eq!(left.last_tab, Some(ada.clone()));
        assert_eq!(left.count, 1);
        let again = p.leave("r", "s2").await.expect("leave");
        assert_eq!(again.last_tab, None, "a second leave changes nothing");
        assert_eq!(p.rooms().await.expect("rooms"), vec![("r".to_owned(), 1)]);
        assert_eq!(
            p.present("r", &[ada.id.clone(), bob.id.clone()])
                .await
                .expect("present"),
            (1, vec![false, true])
        );
        p.leave("r", "s3").await.expect("leave");
        assert!(p.rooms().await.expect("rooms").is_empty());
        assert_eq!(p.leave("nowhere", "s9").await.expect("leave").count, 0);
    }

    #[tokio::test]
    async fn pages_list_every_member_once_in_id_order() {
        let p = MemoryPresence::default();
        for i in 0..25 {
            p.join("r", &format!("s{i}"), &user(&format!("u{i:02}")))
                .await
                .expect("join");
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = p.page("r", cursor.as_deref(), 10).await.expect("page");
            assert_eq!(page.count, if seen.is_empty() { 25 } else { 26 });
            assert!(page.members.len() <= 10);
            seen.extend(page.members.iter().map(|u| u.id.clone()));
            // A join behind the cursor while paging is not listed again, nor does it shift the pages.
            p.join("r", "late", &user("a-late")).await.expect("join");
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = (0..25).map(|i| format!("guest:u{i:02}")).collect();
        assert_eq!(seen, expected);
        let empty = p.page("nowhere", None, 10).await.expect("page");
        assert_eq!(
            (empty.members.len(), empty.next_cursor, empty.count),
            (0, None, 0)
        );
    }
}
