use super::*;

#[test]
fn ip_nets_parse_and_match() {
    // (net, address, contained)
    let cases = [
        ("10.0.0.0/8", "10.255.1.2", true),
        ("10.0.0.0/8", "11.0.0.1", false),
        ("192.0.2.1", "192.0.2.1", true),
        ("192.0.2.1", "192.0.2.2", false),
        ("192.0.2.0/31", "192.0.2.1", true),
        ("0.0.0.0/0", "203.0.113.9", true),
        ("0.0.0.0/0", "2001:db8::1", false),
        ("::1", "::1", true),
        ("fd00::/8", "fd12::1", true),
        ("fd00::/8", "fe80::1", false),
        ("::/0", "2001:db8::1", true),
        ("10.0.0.0/8", "::ffff:10.0.0.1", true),
    ];
    for (net, ip, expected) in cases {
        let parsed = IpNet::parse(net).unwrap_or_else(|| panic!("{net} parses"));
        assert_eq!(
            parsed.contains(ip.parse().unwrap()),
            expected,
            "{net} ∋ {ip}"
        );
    }
    for bad in [
        "",
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "example.com",
        "10.0.0.0/8/8",
        // An IPv4-mapped address is read as IPv4, where /104 means nothing.
        "::ffff:10.0.0.0/104",
    ] {
        assert_eq!(IpNet::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn trusted_proxies_are_validated() {
    let mut c = Config {
        trusted_proxies: vec!["10.0.0.0/8".into(), "::1".into()],
        ..Config::default()
    };
    assert!(c.validate().is_ok());
    c.trusted_proxies.push("proxy.example".into());
    assert!(matches!(
        c.validate(),
        Err(ConfigError::Invalid {
            key: "trusted_proxies",
            ..
        })
    ));
    let c = Config {
        client_ip_header: "x-forwarded-for".into(),
        ..Config::default()
    };
    assert!(c.warnings().iter().any(|w| w.contains("trusted_proxies")));
}
