//! The layering of the crate, checked: a top-level module imports only the
//! modules below it in [`LAYERS`], so there is no import cycle between them and
//! a reader can go from the bottom up.
//!
//! Read from the source text (every `crate::` path outside comments), so a new
//! upward import fails `cargo test` with the files that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, from the top (imports everything below) to the bottom
/// (imports nothing of the crate).
pub const LAYERS: [&str; 12] = [
    "fuzz_logic",
    "node",
    "apps",
    "backends",
    "socket",
    "transport",
    "security",
    "cluster",
    "ops",
    "config",
    "protocol",
    "test_support",
];

/// The first segment of every `crate::` path in `code` (groups included).
fn crate_roots(code: &str) -> BTreeSet<String> {
    let mut roots = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1usize;
            let mut item_start = true;
            let mut ident = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c == ',' {
                    item_start = true;
                    continue;
                }
                if item_start && depth == 1 {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        ident.push(c);
                        continue;
                    }
                    if !ident.is_empty() {
                        roots.insert(std::mem::take(&mut ident));
                        item_start = false;
                    }
                }
            }
            if !ident.is_empty() {
                roots.insert(ident);
            }
        } else {
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() {
                roots.insert(ident);
            }
        }
    }
    roots
}

/// `text` without `//` comments (doc links name modules without depending on them).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every import between two top-level modules: (from, to) → files.
fn module_imports(src: &Path) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut imports: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Ok(relative) = file.strip_prefix(src) else {
            continue;
        };
        let Some(first) = relative.components().next() else {
            continue;
        };
        let from = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if !LAYERS.contains(&from.as_str()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for to in crate_roots(&code_of(&text)) {
            if to != from && LAYERS.contains(&to.as_str()) {
                imports
                    .entry((from.clone(), to))
                    .or_default()
                    .insert(relative.display().to_string());
            }
        }
    }
    imports
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(module: &str) -> usize {
        LAYERS
            .iter()
            .position(|m| *m == module)
            .unwrap_or(usize::MAX)
    }

    #[test]
    fn modules_import_only_the_layers_below_them() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let imports = module_imports(&src);
        assert!(
            imports.keys().any(|(from, _)| from == "node"),
            "the check read no imports from {}",
            src.display()
        );
        let upward: Vec<String> = imports
            .iter()
            .filter(|((from, to), _)| rank(to) <= rank(from))
            .map(|((from, to), files)| format!("{from} -> {to}: {files:?}"))
            .collect();
        assert!(
            upward.is_empty(),
            "imports against the layering ({LAYERS:?}):\n{}",
            upward.join("\n")
        );
    }

    #[test]
    fn every_top_level_module_has_a_layer() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
        for line in lib.lines() {
            if let Some(module) = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("pub(crate) mod "))
                .or_else(|| line.strip_prefix("mod "))
                .and_then(|m| m.strip_suffix(';'))
                .filter(|m| *m != "architecture")
            {
                assert!(LAYERS.contains(&module), "{module} has no layer");
            }
        }
    }

    #[test]
    fn paths_and_groups_are_read() {
        let code = "use crate::ops::metrics;\nuse crate::{security::limits, protocol::{Reply, chat}};\nlet x = crate::config::Config::defaults();";
        let roots: Vec<String> = crate_roots(code).into_iter().collect();
        assert_eq!(roots, ["config", "ops", "protocol", "security"]);
        assert_eq!(code_of("a // crate::node"), "a ");
    }
}
