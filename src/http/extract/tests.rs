use axum::http::{HeaderMap, HeaderValue};

use super::*;

fn config(header: &str, trusted: &[&str]) -> Config {
    Config {
        client_ip_header: header.into(),
        trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
        ..Config::default()
    }
}

fn xff(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn the_client_ip_is_the_right_most_untrusted_hop() {
    let proxies = ["10.0.0.0/8", "192.0.2.1"];
    // (peer, X-Forwarded-For values, trusted proxies, expected client IP)
    let cases: &[(&str, &[&str], &[&str], &str)] = &[
        // No header configured: the peer, whatever the request says.
        ("10.0.0.5", &["203.0.113.9"], &[], "10.0.0.5"),
        // The peer is trusted: the right-most address it did not add itself.
        ("10.0.0.5", &["203.0.113.9"], &proxies, "203.0.113.9"),
        // A forged left-most entry changes nothing.
        (
            "10.0.0.5",
            &["1.2.3.4, 203.0.113.9"],
            &proxies,
            "203.0.113.9",
        ),
        (
            "10.0.0.5",
            &["1.2.3.4", "203.0.113.9"],
            &proxies,
            "203.0.113.9",
        ),
        // Trusted hops on the right are skipped.
        (
            "10.0.0.5",
            &["1.2.3.4, 203.0.113.9, 10.1.1.1, 192.0.2.1"],
            &proxies,
            "203.0.113.9",
        ),
        // The peer is not a trusted proxy: the header does not count at all.
        ("198.51.100.7", &["203.0.113.9"], &proxies, "198.51.100.7"),
        // No header: the peer.
        ("10.0.0.5", &[], &proxies, "10.0.0.5"),
        // Every hop is trusted: the left-most of them.
        ("10.0.0.5", &["10.2.2.2, 10.3.3.3"], &proxies, "10.2.2.2"),
        // Garbage ends the walk at the last trusted hop (fails closed: no dodging by garbage).
        (
            "10.0.0.5",
            &["203.0.113.9, garbage, 10.1.1.1"],
            &proxies,
            "10.1.1.1",
        ),
        ("10.0.0.5", &["garbage"], &proxies, "10.0.0.5"),
        // IPv6, and IPv4-mapped peers.
        ("::1", &["2001:db8::1"], &["::1"], "2001:db8::1"),
        ("::ffff:10.0.0.5", &["203.0.113.9"], &proxies, "203.0.113.9"),
        (
            "fd00::1",
            &["5.6.7.8, 2001:db8::2"],
            &["fd00::/8"],
            "2001:db8::2",
        ),
    ];
    for (peer, header, trusted, expected) in cases {
        let name = if trusted.is_empty() && *peer == "10.0.0.5" && header.len() == 1 {
            ""
        } else {
            "x-forwarded-for"
        };
        let c = config(name, trusted);
        let got = client_ip(&c, &xff(header), Some(peer.parse().unwrap()));
        assert_eq!(
            &got, expected,
            "peer {peer}, header {header:?}, trusted {trusted:?}"
        );
    }
    // A configured header without any trusted proxy is ignored.
    let c = config("x-forwarded-for", &[]);
    assert_eq!(
        client_ip(
            &c,
            &xff(&["203.0.113.9"]),
            Some("10.0.0.5".parse().unwrap())
        ),
        "10.0.0.5"
    );
    assert_eq!(client_ip(&c, &xff(&[]), None), "unknown");
}
