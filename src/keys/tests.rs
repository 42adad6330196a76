//! The rotation timeline, with the time passed in: no key material and no database.

use super::*;

fn row(kid: &str, alg: &str, activates_at: i64) -> SigningKeyRow {
    SigningKeyRow {
        kid: kid.into(),
        alg: alg.into(),
        private_key_enc: String::new(),
        public_jwk: String::new(),
        created_at: activates_at,
        activates_at,
        retired_at: None,
        expires_at: None,
    }
}

/// What `rotate` writes at `now` for one algorithm (`store::keys::insert_and_retire_older`):
/// the next key, and an end for every older key of that algorithm that has none yet.
fn rotate_rows(rows: &mut Vec<SigningKeyRow>, kid: &str, alg: &str, config: &Config, now: i64) {
    let (activates_at, expires_at) = rotation_schedule(config, now);
    for r in rows.iter_mut() {
        if r.alg == alg && r.expires_at.is_none() {
            r.retired_at = Some(activates_at);
            r.expires_at = Some(expires_at);
        }
    }
    rows.push(SigningKeyRow {
        created_at: now,
        ..row(kid, alg, activates_at)
    });
}

/// Each key's state at `now`, as `logi keys list` computes it.
fn states(rows: &[SigningKeyRow], now: i64) -> Vec<(String, &'static str)> {
    let current = current_per_alg(rows, now);
    rows.iter()
        .map(|r| (r.kid.clone(), key_state(r, &current, now)))
        .collect()
}

fn owned(expected: &[(Alg, &str)]) -> Vec<(Alg, String)> {
    expected.iter().map(|(a, k)| (*a, k.to_string())).collect()
}

#[test]
fn the_current_key_is_the_newest_activated_one_per_algorithm() {
    let rows = vec![
        row("rs-old", "RS256", 0),
        row("rs-new", "RS256", 100),
        row("rs-next", "RS256", 200),
        row("es-1", "ES256", 50),
        row("ed-next", "EdDSA", 150),
        row("hs", "HS256", 0),
    ];
    let cases: &[(i64, &[(Alg, &str)])] = &[
        (-1, &[]),
        (0, &[(Alg::RS256, "rs-old")]),
        (50, &[(Alg::RS256, "rs-old"), (Alg::ES256, "es-1")]),
        (99, &[(Alg::RS256, "rs-old"), (Alg::ES256, "es-1")]),
        (100, &[(Alg::RS256, "rs-new"), (Alg::ES256, "es-1")]),
        (
            150,
            &[
                (Alg::RS256, "rs-new"),
                (Alg::ES256, "es-1"),
                (Alg::EdDSA, "ed-next"),
            ],
        ),
        (
            200,
            &[
                (Alg::RS256, "rs-next"),
                (Alg::ES256, "es-1"),
                (Alg::EdDSA, "ed-next"),
            ],
        ),
    ];
    for (now, expected) in cases {
        assert_eq!(current_per_alg(&rows, *now), owned(expected), "now = {now}");
    }
    assert!(current_per_alg(&[], 0).is_empty());
}

#[test]
fn ties_are_broken_by_kid_whatever_the_row_order() {
    let a = row("kid-a", "ES256", 10);
    let b = row("kid-b", "ES256", 10);
    for rows in [vec![a.clone(), b.clone()], vec![b, a]] {
        assert_eq!(current_per_alg(&rows, 10), owned(&[(Alg::ES256, "kid-b")]));
        // The other one is activated, hence retired rather than next.
        let mut got = states(&rows, 10);
        got.sort();
        assert_eq!(
            got,
            [("kid-a".into(), "retired"), ("kid-b".into(), "current")]
        );
    }
}

#[test]
fn the_rotation_schedule_outlives_every_token_of_the_old_key() {
    let base = Config::default();
    let longer_access = Config {
        access_token_ttl_seconds: 7200,
        ..Config::default()
    };
    let now = 1_000;
    for config in [base, longer_access] {
        let (activates_at, expires_at) = rotation_schedule(&config, now);
        assert_eq!(
            activates_at,
            now + config.key_activation_delay_seconds as i64
        );
        // The last token the old key signs, one second before the next key activates,
        // expires before the old key leaves the JWKS.
        let longest = config
            .access_token_ttl_seconds
            .max(config.id_token_ttl_seconds) as i64;
        assert!(activates_at - 1 + longest < expires_at);
        assert_eq!(expires_at, activates_at + longest + 60);
    }
}

#[test]
fn rotation_timeline() {
    let config = Config::default();
    let (delay, lifetime) = (300, 3600);
    assert_eq!(config.key_activation_delay_seconds, delay as u64);
    assert_eq!(max_token_lifetime(&config), lifetime);

    let mut rows = vec![row("a", "ES256", 0)];
    assert_eq!(states(&rows, 500), [("a".into(), "current")]);

    let rotated_at = 1_000;
    rotate_rows(&mut rows, "b", "ES256", &config, rotated_at);
    let activates = rotated_at + delay;
    let expires = activates + lifetime + 60;
    let cases = [
        // The next key is published at once, and signs only from `activates_at`.
        (rotated_at, "current", "next"),
        (activates - 1, "current", "next"),
        (activates, "retired", "current"),
        // The old key stays published while tokens it signed may live ...
        (activates - 1 + lifetime, "retired", "current"),
        (expires - 1, "retired", "current"),
        // ... and then leaves.
        (expires, "expired", "current"),
        (expires + 1_000_000, "expired", "current"),
    ];
    for (now, a, b) in cases {
        assert_eq!(
            states(&rows, now),
            [("a".into(), a), ("b".into(), b)],
            "now = {now}"
        );
    }
}

#[test]
fn a_second_rotation_before_the_first_activates() {
    let config = Config::default();
    let mut rows = vec![row("a", "RS256", 0)];
    rotate_rows(&mut rows, "b", "RS256", &config, 1_000);
    rotate_rows(&mut rows, "c", "RS256", &config, 1_100);
    let (b_at, a_expires) = (1_300, 1_300 + 3600 + 60);
    let (c_at, b_expires) = (1_400, 1_400 + 3600 + 60);
    let cases = [
        (1_100, ["current", "next", "next"]),
        (b_at, ["retired", "current", "next"]),
        (c_at, ["retired", "retired", "current"]),
        (a_expires, ["expired", "retired", "current"]),
        (b_expires, ["expired", "expired", "current"]),
    ];
    for (now, expected) in cases {
        let got: Vec<&str> = states(&rows, now).into_iter().map(|(_, s)| s).collect();
        assert_eq!(got, expected, "now = {now}");
    }
}

#[test]
fn algorithms_rotate_independently() {
    let config = Config::default();
    let mut rows = vec![row("rs", "RS256", 0), row("es", "ES256", 0)];
    rotate_rows(&mut rows, "rs-2", "RS256", &config, 1_000);
    assert_eq!(rows[1].expires_at, None, "the ES256 key is untouched");
    assert_eq!(
        states(&rows, 1_300),
        [
            ("rs".into(), "retired"),
            ("es".into(), "current"),
            ("rs-2".into(), "current"),
        ]
    );
}
