use super::*;

const ISSUER: &str = "https://login.example.com";

fn input(json: serde_json::Value) -> ApiInput {
    serde_json::from_value(json).expect("input parses")
}

fn created(json: serde_json::Value) -> Result<Api, ApiError> {
    create(input(json), "usr_1", ISSUER, 100)
}

#[test]
fn an_api_is_created_with_trimmed_text_and_ordered_scopes() {
    let api = created(serde_json::json!({
        "name": " Calendar ",
        "identifier": "https://calendar.example.com",
        "scopes": [
            {"name": "calendar.read", "description": " Read your calendar "},
            {"name": "calendar.write", "description": "Change your calendar"}
        ],
        "access_token_ttl_seconds": 300
    }))
    .unwrap();
    assert_eq!(api.name, "Calendar");
    assert_eq!(api.identifier, "https://calendar.example.com");
    assert_eq!(api.scopes[0].description, "Read your calendar");
    assert_eq!(api.scopes[1].name, "calendar.write");
    assert_eq!(api.access_token_ttl_seconds, Some(300));
    assert!(api.id.starts_with("api_"));
}

#[test]
fn identifiers_are_absolute_https_or_loopback_uris_and_not_the_issuer() {
    let ok = [
        "https://api.example.com",
        "https://api.example.com/v1/",
        "http://127.0.0.1:9000/api",
        "http://localhost/api",
    ];
    for id in ok {
        assert!(
            created(serde_json::json!({"name": "A", "identifier": id})).is_ok(),
            "{id}"
        );
    }
    let refused = [
        "",
        "api.example.com",
        "/relative",
        "http://api.example.com",
        "https://api.example.com/#frag",
        "https://user:pw@api.example.com",
        "https://api.example.com/a b",
        "https://api.example.com\\x",
        "urn:example:api",
        "ftp://api.example.com",
        ISSUER,
        "https://login.example.com/",
    ];
    for id in refused {
        assert!(
            created(serde_json::json!({"name": "A", "identifier": id})).is_err(),
            "{id}"
        );
    }
}

#[test]
fn scopes_are_valid_unique_described_and_never_built_in() {
    let with = |scopes: serde_json::Value| {
        created(serde_json::json!({
            "name": "A", "identifier": "https://a.example.com", "scopes": scopes
        }))
    };
    assert!(with(serde_json::json!([{"name": "a:read", "description": "Read"}])).is_ok());
    for bad_scopes in [
        serde_json::json!([{"name": "openid", "description": "x"}]),
        serde_json::json!([{"name": "has space", "description": "x"}]),
        serde_json::json!([{"name": "a\"b", "description": "x"}]),
        serde_json::json!([{"name": "read", "description": "x"}, {"name": "read", "description": "y"}]),
        serde_json::json!([{"name": "read", "description": "  "}]),
        serde_json::json!([{"name": "read", "description": "a\u{0007}b"}]),
        serde_json::json!([{"name": "read", "description": "x".repeat(301)}]),
    ] {
        assert!(with(bad_scopes.clone()).is_err(), "{bad_scopes}");
    }
}

#[test]
fn the_lifetime_is_bounded_and_null_restores_the_default() {
    let mut api = created(serde_json::json!({
        "name": "A", "identifier": "https://a.example.com", "access_token_ttl_seconds": 60
    }))
    .unwrap();
    for ttl in [59, 86_401, -1] {
        assert!(apply_patch(
            &api,
            input(serde_json::json!({"access_token_ttl_seconds": ttl})),
            1
        )
        .is_err());
    }
    assert!(serde_json::from_value::<ApiInput>(
        serde_json::json!({"access_token_ttl_seconds": "60"})
    )
    .is_err());
    api = apply_patch(
        &api,
        input(serde_json::json!({"access_token_ttl_seconds": null})),
        2,
    )
    .unwrap();
    assert_eq!(api.access_token_ttl_seconds, None);
    api = apply_patch(&api, input(serde_json::json!({"name": "B"})), 3).unwrap();
    assert_eq!(
        (
            api.name.as_str(),
            api.access_token_ttl_seconds,
            api.updated_at
        ),
        ("B", None, 3)
    );
}

#[test]
fn the_identifier_never_changes() {
    let api =
        created(serde_json::json!({"name": "A", "identifier": "https://a.example.com"})).unwrap();
    assert!(apply_patch(
        &api,
        input(serde_json::json!({"identifier": "https://b.example.com"})),
        1
    )
    .is_err());
    assert!(apply_patch(
        &api,
        input(serde_json::json!({"identifier": "https://a.example.com"})),
        1
    )
    .is_ok());
}

#[test]
fn a_scope_name_belongs_to_one_of_a_developers_apis() {
    let a = created(serde_json::json!({
        "name": "A", "identifier": "https://a.example.com",
        "scopes": [{"name": "read", "description": "Read"}]
    }))
    .unwrap();
    let b = created(serde_json::json!({
        "name": "B", "identifier": "https://b.example.com",
        "scopes": [{"name": "read", "description": "Read B"}]
    }))
    .unwrap();
    assert!(check_scopes_unique(&b, std::slice::from_ref(&a)).is_err());
    // An API does not conflict with itself (a PATCH).
    assert!(check_scopes_unique(&a, std::slice::from_ref(&a)).is_ok());
    assert_eq!(foreign_scopes_refusal(&[]), None);
    assert!(foreign_scopes_refusal(&["read".into()])
        .unwrap()
        .contains("`read`"));
}
