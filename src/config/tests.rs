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

#[test]
fn smtp_url_is_parsed_and_validated() {
    let with = |url: &str| Config {
        smtp_url: Secret(url.into()),
        ..Config::default()
    };
    assert_eq!(Config::default().smtp().unwrap(), None);
    let plain = with("smtp://127.0.0.1:2525").smtp().unwrap().unwrap();
    assert_eq!(plain.security, SmtpSecurity::Plain);
    assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 2525));
    assert_eq!(plain.credentials, None);
    let tls = with("smtp+starttls://me%40example.com:p%40ss@mail.example.com")
        .smtp()
        .unwrap()
        .unwrap();
    assert_eq!(tls.security, SmtpSecurity::StartTls);
    assert_eq!(tls.port, 587);
    assert_eq!(
        tls.credentials,
        Some(("me@example.com".into(), Secret("p@ss".into())))
    );
    let wrapped = with("smtps://u:p@mail.example.com")
        .smtp()
        .unwrap()
        .unwrap();
    assert_eq!((wrapped.security, wrapped.port), (SmtpSecurity::Tls, 465));
    for bad in [
        "http://mail.example.com",
        "smtp://",
        "smtp://mail.example.com/path",
        "smtp://mail.example.com?x=1",
        "smtp://user:secret@mail.example.com",
        "not a url",
    ] {
        let err = with(bad).validate().unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    key: "smtp_url",
                    ..
                }
            ),
            "{bad}: {err}"
        );
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}

#[test]
fn mail_from_is_validated() {
    for bad in ["", "not an address", "a@b\r\nBcc: x@y"] {
        let c = Config {
            mail_from: bad.into(),
            ..Config::default()
        };
        assert!(
            matches!(
                c.validate(),
                Err(ConfigError::Invalid {
                    key: "mail_from",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
    let c = Config {
        mail_from: "Login <noreply@login.example.com>".into(),
        ..Config::default()
    };
    assert!(c.validate().is_ok());
}
