//! Display names held in `/chat` on this node, so guests cannot pose as signed-in users.
//!
//! A guest names themselves; a token user's name was vouched for. Without this a
//! guest called "Ada" (or "ADA", or "Аda" with a Cyrillic А) sat beside the
//! signed-in Ada and looked the same. Names are compared by their confusable
//! skeletons ([`crate::security::identity::name_skeletons`]); a guest is refused a name
//! that shares one with a connected token user of another id. Guests may share
//! lookalike names with each other: they are unauthenticated anyway.
//!
//! The registry is this node's view: in a cluster a guest on node B is not
//! refused for a token user connected only to node A.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::protocol::user::User;
use crate::protocol::{ErrorCode, Refusal};
use crate::security::identity::{Provenance, name_skeletons};

/// The users holding one skeleton: by user id, how they came and how many sockets.
type Holders = HashMap<String, (Provenance, usize)>;

/// Who holds which skeleton (both kinds, tagged by kind).
#[derive(Default)]
pub struct NameRegistry {
    // A std mutex: held for a map update, never across an await.
    holders: Mutex<HashMap<String, Holders>>,
}

impl NameRegistry {
    /// Takes `user`'s name for one socket, or refuses a guest whose name a token user holds.
    pub fn claim(&self, user: &User, provenance: Provenance) -> Result<(), Refusal> {
        let keys = keys(&user.name);
        let mut holders = self
            .holders
            .lock()
            .map_err(|_| Refusal::new(ErrorCode::Internal, "the name registry is unavailable"))?;
        let taken = provenance == Provenance::Guest
            && keys.iter().any(|key| {
                holders.get(key).is_some_and(|same| {
                    same.iter()
                        .any(|(id, (how, _))| *how == Provenance::Token && *id != user.id)
                })
            });
        if taken {
            return Err(Refusal::new(
                ErrorCode::InvalidName,
                format!(
                    "{:?} is the name of a signed-in user; choose another",
                    user.name
                ),
            ));
        }
        for key in keys {
            holders
                .entry(key)
                .or_default()
                .entry(user.id.clone())
                .or_insert((provenance, 0))
                .1 += 1;
        }
        Ok(())
    }

    /// Gives back one socket's claim of `user`'s name.
    pub fn release(&self, user: &User) {
        let Ok(mut holders) = self.holders.lock() else {
            return;
        };
        for key in keys(&user.name) {
            let Some(same) = holders.get_mut(&key) else {
                continue;
            };
            if let Some((_, sockets)) = same.get_mut(&user.id) {
                *sockets -= 1;
                if *sockets == 0 {
                    same.remove(&user.id);
                }
            }
            if same.is_empty() {
                holders.remove(&key);
            }
        }
    }
}

/// Both skeletons of `name`, tagged so that they never meet each other.
fn keys(name: &str) -> [String; 2] {
    let [folded_first, skeleton_first] = name_skeletons(name);
    [format!("f:{folded_first}"), format!("s:{skeleton_first}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: &str) -> User {
        User {
            id: id.into(),
            name: name.into(),
        }
    }

    #[test]
    fn guests_cannot_take_a_signed_in_users_name_while_it_is_held() {
        let names = NameRegistry::default();
        let ada = user("u-1", "Ada");
        names.claim(&ada, Provenance::Token).expect("token user");
        names.claim(&ada, Provenance::Token).expect("second tab");
        names
            .claim(&user("u-3", "Iris"), Provenance::Token)
            .expect("token user");
        for alike in ["Ada", "ADA", "\u{0410}da", "lris", "IRIS"] {
            let guest = user(&format!("guest:{}", alike.to_lowercase()), alike);
            let refusal = names.claim(&guest, Provenance::Guest).expect_err(alike);
            assert_eq!(refusal.code, ErrorCode::InvalidName);
        }
        names
            .claim(&user("guest:bob", "Bob"), Provenance::Guest)
            .expect("another name");
        // Another token user may have the same name; guests of lookalike names may coexist.
        names
            .claim(&user("u-2", "Ada"), Provenance::Token)
            .expect("token users are vouched for");
        names
            .claim(&user("guest:b0b", "B0b"), Provenance::Guest)
            .expect("guests among themselves");

        names.release(&ada);
        names.release(&user("u-2", "Ada"));
        assert!(
            names
                .claim(&user("guest:ada", "Ada"), Provenance::Guest)
                .is_err(),
            "Ada still has a tab"
        );
        names.release(&ada);
        names
            .claim(&user("guest:ada", "Ada"), Provenance::Guest)
            .expect("free once every tab is gone");
    }
}
