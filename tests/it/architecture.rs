//! The module graph of `src/`, read from the source: the layers import only the layers before
//! them, and no group of sibling modules imports itself in a circle. See `docs/architecture.md`.
//!
//! The reading is textual but exact enough for this codebase: every `crate::…` and `super::…`
//! path (including `use` trees with braces) is resolved to the deepest module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, each importing only the ones before it.
const LAYERS: &[&str] = &[
    "clock",
    "config",
    "outbound",
    "crypto",
    "clients",
    "store",
    "keys",
    "accounts",
    "oauth",
    "oidc",
    "developer",
    "http",
    "server",
];

type Module = Vec<String>;

/// Every module file of the library: its module path and its text without comments.
fn modules() -> Vec<(Module, String)> {
    fn walk(dir: &Path, prefix: &[String], out: &mut Vec<(Module, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut module = prefix.to_vec();
                match (prefix.is_empty(), name.as_str()) {
                    (true, "main") => continue, // the binary, outside the library
                    (true, "lib") | (false, "mod") => {}
                    _ => module.push(name),
                }
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((module, strip_comments(&text)));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut out,
    );
    out
}

/// Drops `//` comments (a `//` right after `:` is a URL in a string, not a comment).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| {
            let bytes = line.as_bytes();
            let mut cut = line.len();
            for i in 0..bytes.len().saturating_sub(1) {
                if &bytes[i..i + 2] == b"//" && (i == 0 || bytes[i - 1] != b':') {
                    cut = i;
                    break;
                }
            }
            &line[..cut]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that starts with `crate::` or `super::`, brace groups expanded.
fn paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = [&b"crate::"[..], &b"super::"[..]]
            .iter()
            .any(|s| bytes[i..].starts_with(s));
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let after_colons = i >= 2 && &bytes[i - 2..i] == b"::";
        if starts && boundary && !after_colons {
            let (found, end) = read_path(text, i, "");
            out.extend(found);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads a path (and a brace group after it) from `start`; returns the full paths and the end.
fn read_path(text: &str, start: usize, prefix: &str) -> (Vec<String>, usize) {
    let bytes = text.as_bytes();
    let mut i = start;
    let mut path = prefix.to_string();
    loop {
        let s = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        path.push_str(&text[s..i]);
        if bytes[i..].starts_with(b"::") {
            i += 2;
            path.push_str("::");
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && bytes[i] == b'{' {
                return read_group(text, i + 1, &path);
            }
        } else {
            return (vec![path], i);
        }
    }
}

/// The items of a `{ … }` group, each read as a path under `prefix`.
fn read_group(text: &str, mut i: usize, prefix: &str) -> (Vec<String>, usize) {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
            i += 1;
        }
        if i >= bytes.len() {
            return (out, i);
        }
        if bytes[i] == b'}' {
            return (out, i + 1);
        }
        if bytes[i] == b'{' {
            let (found, end) = read_group(text, i + 1, prefix);
            out.extend(found);
            i = end;
            continue;
        }
        let (found, end) = read_path(text, i, prefix);
        out.extend(found);
        // Skip `as name` and anything else up to the next separator.
        i = end.max(i + 1);
        while i < bytes.len() && !matches!(bytes[i], b',' | b'}') {
            i += 1;
        }
    }
}

/// The deepest known module a path from `from` names.
fn resolve(from: &Module, path: &str, known: &BTreeSet<Module>) -> Module {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut base: Module = if segments.peek() == Some(&"crate") {
        segments.next();
        Vec::new()
    } else {
        from.clone()
    };
    while segments.peek() == Some(&"super") {
        segments.next();
        base.pop();
    }
    for s in segments {
        let mut next = base.clone();
        next.push(s.to_string());
        if !known.contains(&next) {
            break;
        }
        base = next;
    }
    base
}

/// (from, to) module edges of the library.
fn edges() -> BTreeMap<(Module, Module), BTreeSet<String>> {
    let modules = modules();
    let known: BTreeSet<Module> = modules.iter().map(|(m, _)| m.clone()).collect();
    let mut out: BTreeMap<(Module, Module), BTreeSet<String>> = BTreeMap::new();
    for (from, text) in &modules {
        for path in paths(text) {
            let to = resolve(from, &path, &known);
            if &to != from {
                out.entry((from.clone(), to)).or_default().insert(path);
            }
        }
    }
    out
}

#[test]
fn the_reader_sees_use_trees_and_inline_paths() {
    let text = "use crate::{a::{b, c::D}, e};\nuse super::f::G;\nfn x() { crate::h::i(); }";
    let got = paths(text);
    assert_eq!(
        got,
        [
            "crate::a::b",
            "crate::a::c::D",
            "crate::e",
            "super::f::G",
            "crate::h::i"
        ]
    );
    assert_eq!(
        strip_comments("a // crate::x\n\"http://y\""),
        "a \n\"http://y\""
    );
}

#[test]
fn layers_import_only_earlier_layers() {
    let mut wrong = Vec::new();
    for ((from, to), paths) in edges() {
        let (Some(f), Some(t)) = (from.first(), to.first()) else {
            continue;
        };
        // Helpers compiled only into the unit tests sit outside the layers.
        if f == "test_support" || t == "test_support" {
            continue;
        }
        let layer = |m: &String| LAYERS.iter().position(|l| l == m);
        match (layer(f), layer(t)) {
            (Some(a), Some(b)) if b <= a => {}
            (Some(_), Some(_)) => wrong.push(format!(
                "{} → {}: {paths:?}",
                from.join("::"),
                to.join("::")
            )),
            _ => wrong.push(format!(
                "{} or {} is not in LAYERS (add it where it belongs)",
                f, t
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn sibling_modules_have_no_cycle() {
    // Each edge between two modules becomes an edge between the children of their common
    // ancestor that contain them (a child using its parent, or the reverse, is no edge).
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, to) in edges().into_keys() {
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == to.len() {
            continue;
        }
        graph
            .entry(from[..=common].to_vec())
            .or_default()
            .insert(to[..=common].to_vec());
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|m| m == node).unwrap_or(0);
                let mut cycle = stack[at..].to_vec();
                cycle.push(node.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut state, &mut Vec::new()) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            panic!("module cycle: {}", names.join(" → "));
        }
    }
}
