use std::net::IpAddr;

use super::*;
use crate::config::Secret;

fn config(allow_loopback: bool, token: &str) -> Config {
    Config {
        metrics_allow_loopback: allow_loopback,
        metrics_token: Secret(token.into()),
        ..Config::default()
    }
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn metrics_are_for_loopback_peers_or_the_token_bearer() {
    let open = config(true, "");
    let token = config(true, "m3trics-t0ken");
    let token_only = config(false, "m3trics-t0ken");
    let nobody = config(false, "");
    let cases: &[(&Config, Option<IpAddr>, Option<&str>, bool)] = &[
        // Loopback peers, IPv4, IPv6 and IPv4-mapped IPv6.
        (&open, ip("127.0.0.1"), None, true),
        (&open, ip("127.8.9.10"), None, true),
        (&open, ip("::1"), None, true),
        (&open, ip("::ffff:127.0.0.1"), None, true),
        // Anyone else, with or without a token, when none is configured.
        (&open, ip("203.0.113.9"), None, false),
        (&open, ip("10.0.0.1"), Some("Bearer "), false),
        (&open, ip("::ffff:203.0.113.9"), Some("Bearer x"), false),
        (&open, None, None, false),
        // With a token: the right one, any peer; scheme case-insensitive.
        (
            &token,
            ip("203.0.113.9"),
            Some("Bearer m3trics-t0ken"),
            true,
        ),
        (
            &token,
            ip("203.0.113.9"),
            Some("bearer m3trics-t0ken"),
            true,
        ),
        (
            &token,
            ip("203.0.113.9"),
            Some("Bearer m3trics-t0ke"),
            false,
        ),
        (
            &token,
            ip("203.0.113.9"),
            Some("Bearer m3trics-t0ken2"),
            false,
        ),
        (
            &token,
            ip("203.0.113.9"),
            Some("Basic m3trics-t0ken"),
            false,
        ),
        (&token, ip("203.0.113.9"), Some("m3trics-t0ken"), false),
        (&token, ip("203.0.113.9"), None, false),
        (&token, ip("127.0.0.1"), None, true),
        // Loopback not allowed: only the token.
        (&token_only, ip("127.0.0.1"), None, false),
        (&token_only, ip("127.0.0.1"), Some("Bearer wrong"), false),
        (
            &token_only,
            ip("127.0.0.1"),
            Some("Bearer m3trics-t0ken"),
            true,
        ),
        // Nobody at all.
        (&nobody, ip("127.0.0.1"), None, false),
        (&nobody, ip("127.0.0.1"), Some("Bearer "), false),
    ];
    for (config, peer, authorization, allowed) in cases {
        assert_eq!(
            metrics_allowed(config, *peer, *authorization),
            *allowed,
            "{peer:?} {authorization:?} loopback={} token={:?}",
            config.metrics_allow_loopback,
            config.metrics_token.0
        );
    }
}

#[test]
fn the_metrics_token_is_never_printed() {
    let c = config(false, "m3trics-t0ken");
    assert!(!format!("{c:?}").contains("m3trics-t0ken"));
}
