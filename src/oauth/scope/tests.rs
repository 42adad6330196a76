use super::*;
use crate::test_support::strings;

#[test]
fn parse_splits_dedups_and_refuses_bad_tokens() {
    let longest = "s".repeat(128);
    let too_long = "s".repeat(129);
    let cases: &[(&str, Option<&[&str]>)] = &[
        ("openid", Some(&["openid"])),
        (
            "openid profile email",
            Some(&["openid", "profile", "email"]),
        ),
        // Order kept, duplicates dropped.
        ("profile openid profile", Some(&["profile", "openid"])),
        ("openid openid", Some(&["openid"])),
        // Empty tokens (leading, trailing, repeated spaces) are skipped.
        ("  openid   profile ", Some(&["openid", "profile"])),
        ("", Some(&[])),
        ("   ", Some(&[])),
        // The whole of %x21 / %x23-5B / %x5D-7E.
        ("! # [ ] ~ a:b/c", Some(&["!", "#", "[", "]", "~", "a:b/c"])),
        (
            "https://api.example/read",
            Some(&["https://api.example/read"]),
        ),
        (&longest, Some(&[&longest])),
        // Outside it: DQUOTE, backslash, controls, DEL, non-ASCII.
        ("openid \"profile\"", None),
        ("\"", None),
        ("a\\b", None),
        ("\\", None),
        ("openid\tprofile", None),
        ("openid\nprofile", None),
        ("openid\u{7f}", None),
        ("café", None),
        ("openid\u{a0}profile", None),
        (&too_long, None),
    ];
    for (s, expected) in cases {
        assert_eq!(parse(s), expected.map(strings), "{s:?}");
    }
}

#[test]
fn scope_tokens() {
    let cases = [
        ("openid", true),
        ("!", true),
        ("#", true),
        ("[", true),
        ("]", true),
        ("~", true),
        ("", false),
        (" ", false),
        ("\"", false),
        ("\\", false),
        ("a b", false),
        ("\u{7f}", false),
        ("\u{1f}", false),
        ("é", false),
    ];
    for (s, ok) in cases {
        assert_eq!(is_scope_token(s), ok, "{s:?}");
    }
    // Every byte: exactly %x21 / %x23-5B / %x5D-7E.
    for b in 0u8..=0x7f {
        let allowed = b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
        let s = (b as char).to_string();
        assert_eq!(is_scope_token(&s), allowed, "byte {b:#x}");
    }
    assert!(is_scope_token(&"a".repeat(128)));
    assert!(!is_scope_token(&"a".repeat(129)));
}

#[test]
fn subsets() {
    let cases: &[(&[&str], &[&str], bool)] = &[
        (&[], &[], true),
        (&[], &["openid"], true),
        (&["openid"], &["openid", "profile"], true),
        (&["profile", "openid"], &["openid", "profile"], true),
        (&["openid", "email"], &["openid", "profile"], false),
        (&["openid"], &[], false),
        // Comparison is exact.
        (&["OpenID"], &["openid"], false),
        (&["open"], &["openid"], false),
    ];
    for (requested, allowed, subset) in cases {
        assert_eq!(
            is_subset(&strings(requested), &strings(allowed)),
            *subset,
            "{requested:?} {allowed:?}"
        );
    }
}

#[test]
fn canonical_form_is_sorted_and_space_separated() {
    let cases: &[(&[&str], &str)] = &[
        (&[], ""),
        (&["openid"], "openid"),
        (&["profile", "openid", "email"], "email openid profile"),
        (&["b", "a", "B"], "B a b"),
    ];
    for (scopes, expected) in cases {
        let input = strings(scopes);
        assert_eq!(canonical(&input), *expected, "{scopes:?}");
        // The input is left as it was.
        assert_eq!(input, strings(scopes));
    }
    // Two orders of the same set have one canonical form.
    assert_eq!(
        canonical(&parse("openid profile").unwrap()),
        canonical(&parse("profile openid").unwrap())
    );
}
