use super::*;

#[test]
fn parse_refuses_repeats_and_invalid_utf8() {
    let cases: &[(&[u8], bool)] = &[
        (b"", true),
        (b"a=1&b=2", true),
        (b"a=1&&b=2&", true),
        (b"a=%C3%A9", true),
        (b"a=1&a=2", false),
        // A repeat is a repeat even when one of the values is empty.
        (b"a=&a=2", false),
        (b"a=1&a", false),
        // Names are compared after decoding.
        (b"a=1&%61=2", false),
        // Invalid UTF-8, raw or percent-encoded, in values and in names.
        (b"a=\xff", false),
        (b"\xff=1", false),
        (b"a=%FF", false),
        (b"%FF=1", false),
        (b"a=%C3", false),
        (b"a=%C3%28", false),
    ];
    for (raw, ok) in cases {
        let got = Params::parse(raw);
        assert_eq!(
            got.is_ok(),
            *ok,
            "{:?}: {got:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn values_are_form_decoded_and_empty_ones_are_absent() {
    let p = Params::parse(
        b"code=a%2Bb+c&state=&redirect_uri=https%3A%2F%2Frp.example%2Fcb&flag&e=%C3%A9",
    )
    .unwrap();
    let cases = [
        ("code", Some("a+b c"), true),
        ("redirect_uri", Some("https://rp.example/cb"), true),
        ("e", Some("é"), true),
        // Present but empty: absent for `get` (RFC 6749 §3.1), present for `contains`.
        ("state", None, true),
        ("flag", None, true),
        ("missing", None, false),
        // Names are case-sensitive.
        ("CODE", None, false),
    ];
    for (name, value, contained) in cases {
        assert_eq!(p.get(name), value, "{name}");
        assert_eq!(p.contains(name), contained, "{name}");
    }
}

#[test]
fn repeats_are_named_and_the_single_parameters_kept() {
    // (raw, Some((names given once, repeated names)) or None for an error)
    type Expected<'a> = Option<(&'a [&'a str], &'a [&'a str])>;
    let cases: &[(&[u8], Expected)] = &[
        (b"a=1&b=2", Some((&["a", "b"], &[]))),
        (b"a=1&b=2&a=3", Some((&["b"], &["a"]))),
        (b"a=1&b=2&b=&a=3&c=4&a=5", Some((&["c"], &["a", "b"]))),
        (b"a=1&%61=2&b=1", Some((&["b"], &["a"]))),
        (b"", Some((&[], &[]))),
        // Still refused: invalid UTF-8, raw or percent-encoded.
        (b"a=1&a=%FF", None),
        (b"a=\xff&a=1", None),
    ];
    for (raw, expected) in cases {
        let got = Params::parse_with_repeats(raw);
        let shown = String::from_utf8_lossy(raw);
        match expected {
            None => assert!(got.is_err(), "{shown:?}: {got:?}"),
            Some((singles, repeated)) => {
                let (params, names) = got.unwrap_or_else(|e| panic!("{shown:?}: {e:?}"));
                assert_eq!(&names, repeated, "{shown:?}");
                for name in ["a", "b", "c"] {
                    assert_eq!(
                        params.contains(name),
                        singles.contains(&name),
                        "{shown:?}: {name}"
                    );
                }
            }
        }
    }
    let (params, _) = Params::parse_with_repeats(b"state=x&scope=a&scope=b").unwrap();
    assert_eq!(params.get("state"), Some("x"));
    assert_eq!(params.get("scope"), None);
}

#[test]
fn control_characters_are_refused_in_protocol_parameters() {
    let cases: &[(&[u8], bool)] = &[
        (b"client_id=abc", true),
        (b"client_id=%00", false),
        (b"client_id=a%00b", false),
        (b"client_id=a\0b", false),
        (b"%00=1", false),
        (b"state=a%01", false),
        (b"state=a%09b", false),
        (b"redirect_uri=https%3A%2F%2Frp.example%2Fcb%0A", false),
        (b"state=a%0Db", false),
        (b"state=%1F", false),
        (b"state=%7F", false),
        // C1 controls (U+0080..U+009F) too.
        (b"state=%C2%85", false),
        // Spaces and non-ASCII text are not control characters.
        (b"scope=openid+profile&name=%C3%A9", true),
    ];
    for (raw, ok) in cases {
        let got = Params::parse(raw);
        assert_eq!(
            got.is_ok(),
            *ok,
            "{:?}: {got:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn form_fields_keep_line_breaks_but_refuse_nul_and_other_controls() {
    let cases: &[(&[u8], bool)] = &[
        // A textarea: one redirect URI per line.
        (
            b"redirect_uris=https%3A%2F%2Fa.example%2Fcb%0D%0Ahttps%3A%2F%2Fb.example%2Fcb",
            true,
        ),
        (b"name=a%09b", true),
        (b"email=a%00%40example.com", false),
        (b"email=a\0b", false),
        (b"name=%01", false),
        (b"name=%7F", false),
        (b"name=%C2%9B", false),
        // Names never hold control characters.
        (b"a%0A=1", false),
        // The other rules hold as for protocol parameters.
        (b"a=1&a=2", false),
        (b"a=%FF", false),
    ];
    for (raw, ok) in cases {
        let got = Params::parse_form_fields(raw);
        assert_eq!(
            got.is_ok(),
            *ok,
            "{:?}: {got:?}",
            String::from_utf8_lossy(raw)
        );
    }
    assert!(has_control_characters("a\0"));
    assert!(has_control_characters("\u{1b}[31m"));
    assert!(!has_control_characters("line\r\nbreak\ttab"));
}
