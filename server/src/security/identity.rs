//! Who is connecting: the user a `/chat` or `/notifications` socket acts as.
//!
//! Resolved once, in the namespace's connect middleware
//! ([`crate::socket::connect`]), and kept in the socket's extensions so every
//! handler reads the same [`User`]: a valid token's user (see
//! [`crate::security::auth`]) or, where the namespace takes guests, a guest named
//! in the handshake, whose name must pass the rules here. A refusal becomes the
//! client's `connect_error`.

use unicode_normalization::UnicodeNormalization;

use crate::protocol::user::{GuestAuth, User};
use crate::protocol::{ErrorCode, Refusal};

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

fn invalid_name(message: impl Into<String>) -> Refusal {
    Refusal::new(ErrorCode::InvalidName, message)
}

/// Whether `c` shows nothing by itself: a default-ignorable code point (zero-width
/// characters, joiners, bidi controls, soft hyphen, variation selectors, Hangul
/// fillers, tags; the set UTS #39 drops from confusable skeletons).
pub fn is_invisible(c: char) -> bool {
    let mut buf = [0u8; 4];
    unicode_security::skeleton(c.encode_utf8(&mut buf))
        .next()
        .is_none()
}

/// Whether `c` is something a reader sees: not blank, not a control, not
/// invisible, not a combining mark alone (which decorates nothing).
pub fn is_visible(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !is_invisible(c)
        && !unicode_normalization::char::is_combining_mark(c)
        && c != '\u{2800}'
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Checks a display name and returns it normalised: Unicode NFKC, variation
/// selectors removed (emoji keyboards add them; they only pick a glyph), each
/// run of white space one space, trimmed. Control characters and the other
/// invisible characters ([`is_invisible`]: zero-width, bidi controls) are refused,
/// not stripped, so that no one is silently renamed.
pub fn validate_name(name: &str) -> Result<String, Refusal> {
    let name: String = name.nfkc().filter(|c| !is_variation_selector(*c)).collect();
    if name.chars().any(char::is_control) {
        return Err(invalid_name(
            "display names may not contain control characters",
        ));
    }
    if name.chars().any(is_invisible) {
        return Err(invalid_name(
            "display names may not contain invisible characters (zero-width, direction controls)",
        ));
    }
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if !name.chars().any(is_visible) {
        return Err(invalid_name("a display name is required"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid_name(format!(
            "display names have at most {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name)
}

/// What display names that look alike have in common: UTS #39 confusable
/// skeletons, two of them because looking alike is not transitive ("I" is
/// "i" but for case, and looks like "l"; "i" does not look like "l"). The
/// first is the skeleton of the case-folded NFKC name, the second the
/// case-folded skeleton of the NFKC name. "Ada", "ADA" and "Аda" (a Cyrillic
/// А) share the first; "Iris" and "lris" the second; "B0b" and "Bob" both.
pub fn name_skeletons(name: &str) -> [String; 2] {
    let nfkc: String = name.nfkc().collect();
    let fold = caseless::default_case_fold_str;
    let skeleton = |s: &str| -> String { unicode_security::skeleton(s).collect() };
    [fold(&skeleton(&fold(&nfkc))), fold(&skeleton(&nfkc))]
}

/// The user a guest handshake (`auth: {name}`) stands for: `guest:` and the
/// case-folded name, so names that differ only by case are one guest.
pub fn guest(auth: &GuestAuth) -> Result<User, Refusal> {
    let name = validate_name(auth.name.as_deref().unwrap_or_default())?;
    Ok(User {
        id: format!("guest:{}", caseless::default_case_fold_str(&name)),
        name,
    })
}

/// How a connection's user was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// A valid token named them.
    Token,
    /// They named themselves.
    Guest,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(name: &str) -> GuestAuth {
        GuestAuth {
            name: Some(name.to_owned()),
        }
    }

    #[test]
    fn guests_get_a_stable_id() {
        let user = guest(&auth("  Ada ")).expect("valid");
        assert_eq!(user.name, "Ada");
        assert_eq!(user.id, "guest:ada");
    }

    #[test]
    fn bad_names_are_refused_with_a_code() {
        for name in ["", "   ", "a\u{7}b", &"x".repeat(33)] {
            let refusal = guest(&auth(name)).expect_err(name);
            assert_eq!(refusal.code, ErrorCode::InvalidName);
            assert!(refusal.to_string().starts_with("invalid_name: "));
        }
        assert!(guest(&GuestAuth::default()).is_err());
    }

    #[test]
    fn names_are_normalised() {
        let name = |n: &str| guest(&auth(n)).map(|u| (u.id, u.name));
        // NFKC: full-width letters and the "ﬁ" ligature become plain ones.
        assert_eq!(name("Ａｄａ"), Ok(("guest:ada".into(), "Ada".into())));
        assert_eq!(name("ﬁ"), Ok(("guest:fi".into(), "fi".into())));
        // Case folding, not just lower case: ß is ss.
        assert_eq!(name("Straße").map(|(id, _)| id), Ok("guest:strasse".into()));
        // White space runs (no-break and ideographic spaces too) become one space.
        assert_eq!(
            name(" Ada\u{00A0}\u{3000} Lovelace "),
            Ok(("guest:ada lovelace".into(), "Ada Lovelace".into()))
        );
        // Emoji keep their picture, without the invisible variation selector.
        assert_eq!(
            name("Ada \u{2764}\u{FE0F}").map(|(_, n)| n),
            Ok("Ada \u{2764}".into())
        );
    }

    #[test]
    fn invisible_characters_are_refused() {
        for bad in [
            "Ada\u{200B}", // zero-width space
            "A\u{200D}da", // zero-width joiner
            "\u{202E}adA", // right-to-left override
            "Ada\u{2066}", // left-to-right isolate
            "Ada\u{200F}", // right-to-left mark
            "\u{FEFF}Ada", // byte order mark
            "Ad\u{00AD}a", // soft hyphen
            "\u{3164}",    // Hangul filler
            "\u{2800}",    // braille blank
            "\u{0301}",    // a combining mark alone
        ] {
            let refusal = guest(&auth(bad)).expect_err(bad);
            assert_eq!(refusal.code, ErrorCode::InvalidName, "{bad:?}");
        }
    }

    #[test]
    fn lookalike_names_share_a_skeleton() {
        let alike = |a: &str, b: &str| {
            let (a, b) = (name_skeletons(a), name_skeletons(b));
            a[0] == b[0] || a[1] == b[1]
        };
        for other in ["ada", "ADA", "\u{0410}da", "Ａｄａ"] {
            assert!(alike("Ada", other), "{other:?}");
        }
        assert!(alike("B0b", "Bob"));
        assert!(alike("Iris", "lris"));
        assert!(alike("Iris", "iris"));
        assert!(!alike("Ada", "Adam"));
        assert!(!alike("iris", "lris"), "i and l do not look alike");
    }
}
