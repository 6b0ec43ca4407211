//! Namespace patterns (`/tenant-*`): one generic namespace setting that
//! serves a family of namespaces, as Node's dynamic namespaces and
//! Flask-SocketIO's `namespace='*'` handlers do.
//!
//! A `*` stands for one or more of the characters a namespace segment may hold
//! (ASCII letters, digits, `-`, `_`, `.`), never `/`; a segment holds at most
//! one `*` (the rule of socketioxide's router, which creates the namespaces).
//! Settings keyed by namespace ([`NamespaceTable`]) take exact entries and
//! patterns; an exact entry wins over a pattern, then patterns in order.

use std::collections::HashMap;
use std::fmt;

/// A namespace or a namespace pattern of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePattern(String);

/// Whether `c` may appear in a namespace segment.
fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

impl NamespacePattern {
    /// Checks `text` (`/admin`, `/tenant-*`, `/org/*/feed`); the error says why it is refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid_chars = text
            .chars()
            .all(|c| is_segment_char(c) || matches!(c, '/' | '*'));
        if !text.starts_with('/') || text.len() < 2 || !valid_chars {
            return Err(format!(
                "{text:?} is not a namespace like /admin or a pattern like /tenant-*"
            ));
        }
        let segments: Vec<&str> = text[1..].split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(format!("{text:?} has an empty segment"));
        }
        if segments.iter().any(|s| s.matches('*').count() > 1) {
            return Err(format!("{text:?} has more than one `*` in a segment"));
        }
        Ok(Self(text.to_owned()))
    }

    /// Whether this is a pattern (has a `*`) rather than one namespace.
    pub fn is_pattern(&self) -> bool {
        self.0.contains('*')
    }

    /// The text as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The route of socketioxide's dynamic namespaces (matchit syntax): each `*`
    /// becomes a named parameter.
    pub fn route(&self) -> String {
        let mut route = String::with_capacity(self.0.len() + 8);
        for (i, part) in self.0.split('*').enumerate() {
            if i > 0 {
                route.push_str(&format!("{{p{i}}}"));
            }
            route.push_str(part);
        }
        route
    }

    /// Whether `namespace` is this one, or one this pattern stands for.
    pub fn matches(&self, namespace: &str) -> bool {
        let pattern: Vec<&str> = self.0.split('/').collect();
        let path: Vec<&str> = namespace.split('/').collect();
        pattern.len() == path.len()
            && pattern
                .iter()
                .zip(&path)
                .all(|(p, s)| segment_matches(p, s))
    }
}

/// One segment against one pattern segment (at most one `*`, one or more characters).
fn segment_matches(pattern: &str, segment: &str) -> bool {
    let Some((prefix, suffix)) = pattern.split_once('*') else {
        return pattern == segment;
    };
    segment.len() > prefix.len() + suffix.len()
        && segment.starts_with(prefix)
        && segment.ends_with(suffix)
        && segment[prefix.len()..segment.len() - suffix.len()]
            .chars()
            .all(is_segment_char)
}

impl fmt::Display for NamespacePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Values keyed by namespace or pattern: exact entries win, then the first
/// pattern (in configuration order) that matches.
#[derive(Debug, Clone)]
pub struct NamespaceTable<T> {
    exact: HashMap<String, T>,
    patterns: Vec<(NamespacePattern, T)>,
}

impl<T> Default for NamespaceTable<T> {
    fn default() -> Self {
        Self {
            exact: HashMap::new(),
            patterns: Vec::new(),
        }
    }
}

impl<T> NamespaceTable<T> {
    /// A table of `entries`; entries that are not namespaces or patterns are left
    /// out (the configuration refuses them at start).
    pub fn new(entries: impl IntoIterator<Item = (String, T)>) -> Self {
        let mut table = Self::default();
        for (key, value) in entries {
            match NamespacePattern::parse(&key) {
                Ok(pattern) if pattern.is_pattern() => table.patterns.push((pattern, value)),
                Ok(_) => {
                    table.exact.entry(key).or_insert(value);
                }
                Err(_) if key == "/" => {
                    table.exact.entry(key).or_insert(value);
                }
                Err(_) => {}
            }
        }
        table
    }

    /// The value of `namespace`: its exact entry, else the first matching pattern's.
    pub fn get(&self, namespace: &str) -> Option<&T> {
        self.exact.get(namespace).or_else(|| {
            self.patterns
                .iter()
                .find(|(pattern, _)| pattern.matches(namespace))
                .map(|(_, value)| value)
        })
    }

    /// The pattern `namespace` falls under, when no exact entry names it.
    pub fn pattern_of(&self, namespace: &str) -> Option<&NamespacePattern> {
        if self.exact.contains_key(namespace) {
            return None;
        }
        self.patterns
            .iter()
            .find(|(pattern, _)| pattern.matches(namespace))
            .map(|(pattern, _)| pattern)
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.patterns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_checked() {
        for ok in ["/admin", "/tenant-*", "/*", "/org/*/feed", "/a.b_c-*-x"] {
            assert!(NamespacePattern::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/", "admin", "/a b", "/a//b", "/a/", "/**", "/a-*-*", "/t?x", "/é",
        ] {
            assert!(NamespacePattern::parse(bad).is_err(), "{bad}");
        }
        let p = NamespacePattern::parse("/org/*/feed-*").expect("valid");
        assert!(p.is_pattern());
        assert_eq!(p.route(), "/org/{p1}/feed-{p2}");
        assert!(
            !NamespacePattern::parse("/admin")
                .expect("valid")
                .is_pattern()
        );
    }

    #[test]
    fn a_star_is_one_or_more_segment_characters() {
        let p = NamespacePattern::parse("/tenant-*").expect("valid");
        for yes in ["/tenant-a", "/tenant-acme.eu_1", "/tenant--"] {
            assert!(p.matches(yes), "{yes}");
        }
        for no in [
            "/tenant-",
            "/tenant",
            "/tenant-a/b",
            "/x/tenant-a",
            "/tenant-a b",
            "/tenant-ä",
            "/Tenant-a",
        ] {
            assert!(!p.matches(no), "{no}");
        }
        let mid = NamespacePattern::parse("/org/*/feed").expect("valid");
        assert!(mid.matches("/org/7/feed"));
        assert!(!mid.matches("/org/7/8/feed"));
        assert!(!mid.matches("/org//feed"));
    }

    #[test]
    fn exact_entries_win_over_patterns() {
        let table = NamespaceTable::new([
            ("/tenant-*".to_owned(), "pattern"),
            ("/tenant-admin".to_owned(), "exact"),
            ("/*".to_owned(), "any"),
            ("/".to_owned(), "root"),
        ]);
        assert_eq!(table.get("/tenant-admin"), Some(&"exact"));
        assert_eq!(table.get("/tenant-a"), Some(&"pattern"));
        assert_eq!(table.get("/other"), Some(&"any"));
        assert_eq!(table.get("/"), Some(&"root"));
        assert_eq!(table.get("/a/b"), None);
        assert_eq!(
            table.pattern_of("/tenant-a").map(|p| p.as_str()),
            Some("/tenant-*")
        );
        assert_eq!(table.pattern_of("/tenant-admin"), None);
    }
}
