//! Helpers shared by the integration tests (`tests/it`) and the load benchmark
//! (`benches/load`), both of which include this file with `#[path]`. Plain functions over
//! strings: nothing here starts a server or reads the time.
#![allow(dead_code)]

/// The `value` of the form input named `name` in an HTML page (minijinja's escaping undone for
/// the characters random tokens and URLs contain).
pub fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&#x3d;", "="),
    )
}

/// `postgres://host/db?x` → `postgres://host/{name}?x`: the same server, another database.
pub fn with_database(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map(|(h, q)| (h, format!("?{q}")))
        .unwrap_or((url, String::new()));
    let base = match head.rsplit_once('/') {
        Some((b, _)) if b.contains("//") && !b.ends_with('/') => b.to_string(),
        _ => head.trim_end_matches('/').to_string(),
    };
    format!("{base}/{name}{query}")
}
