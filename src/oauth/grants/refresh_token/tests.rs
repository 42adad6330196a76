//! The pure rules of a refresh: which scopes survive, and when a family ends.

use super::*;
use crate::oauth::{error::ErrorCode, tokens::refresh_expires_at};
use crate::test_support::strings;

#[test]
fn a_refresh_keeps_only_scopes_the_application_still_has() {
    let granted = strings(&["openid", "email", "offline_access", "api.read"]);
    // (registered now, requested, expected: Ok((kept, scopes)) or the error code)
    type Case<'a> = (
        &'a [&'a str],
        Option<&'a str>,
        Result<(&'a [&'a str], &'a [&'a str]), ErrorCode>,
    );
    let all: &[&str] = &["openid", "email", "offline_access", "api.read"];
    let cases: &[Case] = &[
        // Nothing changed: everything is kept.
        (all, None, Ok((all, all))),
        // Registering more does not add to the grant.
        (
            &[
                "openid",
                "email",
                "profile",
                "offline_access",
                "api.read",
                "api.write",
            ],
            None,
            Ok((all, all)),
        ),
        // A scope the application lost is dropped from the token and from the successor.
        (
            &["openid", "offline_access", "api.read"],
            None,
            Ok((
                &["openid", "offline_access", "api.read"],
                &["openid", "offline_access", "api.read"],
            )),
        ),
        (
            &["offline_access"],
            None,
            Ok((&["offline_access"], &["offline_access"])),
        ),
        // A requested narrower scope still works, for this access token only.
        (all, Some("openid"), Ok((all, &["openid"]))),
        (
            &["openid", "offline_access"],
            Some("openid offline_access"),
            Ok((&["openid", "offline_access"], &["openid", "offline_access"])),
        ),
        // Asking for a scope the application lost, or one never granted: invalid_scope.
        (
            &["openid", "offline_access"],
            Some("openid api.read"),
            Err(ErrorCode::InvalidScope),
        ),
        (all, Some("profile"), Err(ErrorCode::InvalidScope)),
        (all, Some("bad\\scope"), Err(ErrorCode::InvalidScope)),
        // Without offline_access the application may hold no refresh token at all.
        (
            &["openid", "email", "api.read"],
            None,
            Err(ErrorCode::InvalidGrant),
        ),
        (&[], None, Err(ErrorCode::InvalidGrant)),
        (&[], Some("openid"), Err(ErrorCode::InvalidGrant)),
    ];
    for (registered, requested, expected) in cases {
        let got = refreshed_scopes(&granted, &strings(registered), *requested);
        match expected {
            Ok((kept, scopes)) => assert_eq!(
                got,
                Ok(Refreshed {
                    kept: strings(kept),
                    scopes: strings(scopes)
                }),
                "{registered:?} {requested:?}"
            ),
            Err(code) => assert_eq!(
                got.map_err(|e| e.code),
                Err(*code),
                "{registered:?} {requested:?}"
            ),
        }
    }
}

#[test]
fn rotation_never_extends_a_family() {
    const DAY: u64 = 24 * 3600;
    let start = 1_700_000_000;
    let day = DAY as i64;
    // (now, refresh ttl, absolute ttl, expected expiry)
    let cases = [
        // Early in the family: the refresh ttl decides.
        (start, 30 * DAY, 365 * DAY, start + 30 * day),
        (start + 100 * day, 30 * DAY, 365 * DAY, start + 130 * day),
        // Near its end: the family's end decides, however often it rotates.
        (start + 350 * day, 30 * DAY, 365 * DAY, start + 365 * day),
        (start + 364 * day, 30 * DAY, 365 * DAY, start + 365 * day),
        (
            start + 365 * day - 1,
            30 * DAY,
            365 * DAY,
            start + 365 * day,
        ),
        // An absolute lifetime shorter than the refresh ttl caps the first token too.
        (start, 30 * DAY, DAY, start + day),
        // Exactly equal.
        (start, DAY, DAY, start + day),
        // Huge settings do not overflow.
        (start, u64::MAX, u64::MAX, i64::MAX),
        (start, u64::MAX, DAY, start + day),
    ];
    for (now, ttl, absolute, expected) in cases {
        assert_eq!(
            refresh_expires_at(now, ttl, start, absolute),
            expected,
            "now=start+{} ttl={ttl} absolute={absolute}",
            now - start
        );
        assert!(refresh_expires_at(now, ttl, start, absolute) <= family_ends_at(start, absolute));
    }
}

#[test]
fn a_rotated_token_is_replayed_only_within_the_interval_while_the_successor_is_unused() {
    let rotated = 1_000;
    // (interval, seconds since the rotation, successor unused, grant revoked, replay?)
    let cases: &[(i64, i64, bool, bool, bool)] = &[
        (30, 0, true, false, true),
        (30, 29, true, false, true),
        (30, 30, true, false, true),
        (30, 31, true, false, false),
        (60, 60, true, false, true),
        (60, 61, true, false, false),
        // The default: never.
        (0, 0, true, false, false),
        // A value validation would refuse never widens the window.
        (-1, 0, true, false, false),
        (61, 1, true, false, false),
        (3600, 1, true, false, false),
        // The successor was used: the copy is someone else's.
        (30, 1, false, false, false),
        // The family is revoked.
        (30, 1, true, true, false),
        // Another process's clock a little behind the rotating one is still "within"…
        (30, -1, true, false, true),
        (30, -CLOCK_SKEW_SECONDS, true, false, true),
        // …one further behind is not.
        (30, -CLOCK_SKEW_SECONDS - 1, true, false, false),
    ];
    for &(interval, elapsed, unused, revoked, expected) in cases {
        assert_eq!(
            replay_allowed(rotated, interval, rotated + elapsed, unused, revoked),
            expected,
            "interval {interval}, {elapsed} s after, unused {unused}, revoked {revoked}"
        );
    }
}
