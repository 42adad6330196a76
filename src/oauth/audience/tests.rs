use super::*;
use crate::{oauth::error::ErrorCode, store::apis::ApiScope};

fn api(id: &str, identifier: &str, scopes: &[&str]) -> Api {
    Api {
        id: id.into(),
        owner_id: "usr_1".into(),
        name: format!("{id} API"),
        identifier: identifier.into(),
        scopes: scopes
            .iter()
            .map(|s| ApiScope {
                name: s.to_string(),
                description: format!("{s} things"),
            })
            .collect(),
        access_token_ttl_seconds: None,
        created_at: 0,
        updated_at: 0,
    }
}

const CAL: &str = "https://calendar.example.com";
const MAIL: &str = "https://mail.example.com/api";

fn apis() -> Vec<Api> {
    vec![
        api("a", CAL, &["calendar.read", "calendar.write"]),
        api("b", MAIL, &["mail.read"]),
    ]
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn code(r: Result<impl std::fmt::Debug, OAuthError>) -> ErrorCode {
    r.expect_err("should fail").code
}

#[test]
fn a_request_covers_the_named_resources_or_the_one_api_of_its_scopes() {
    let apis = apis();
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        // (resource params, scopes, covered)
        (&[], &["openid", "profile"], &[]),
        (&[], &["openid", "notes"], &[]),
        (&[], &["openid", "calendar.read"], &[CAL]),
        (&[], &["calendar.read", "calendar.write"], &[CAL]),
        (&[CAL], &["openid"], &[CAL]),
        (&[CAL], &["calendar.write", "offline_access"], &[CAL]),
        (&[CAL, MAIL], &["calendar.read", "mail.read"], &[CAL, MAIL]),
        (&[CAL, CAL], &["calendar.read"], &[CAL]),
        // A free-form scope beside a resource is not another API's.
        (&[MAIL], &["notes", "mail.read"], &[MAIL]),
    ];
    for (resources, scopes, covered) in cases {
        assert_eq!(
            for_request(&apis, &v(resources), &v(scopes)).unwrap(),
            v(covered),
            "{resources:?} {scopes:?}"
        );
    }
}

#[test]
fn requests_that_name_no_single_api_are_refused_with_the_rfc_codes() {
    let apis = apis();
    let cases: &[(&[&str], &[&str], ErrorCode)] = &[
        (
            &[],
            &["calendar.read", "mail.read"],
            ErrorCode::InvalidScope,
        ),
        (&[CAL], &["mail.read"], ErrorCode::InvalidScope),
        (
            &["https://unknown.example.com"],
            &["openid"],
            ErrorCode::InvalidTarget,
        ),
        (&["calendar"], &["openid"], ErrorCode::InvalidTarget),
        (
            &["https://calendar.example.com#x"],
            &["openid"],
            ErrorCode::InvalidTarget,
        ),
        (
            &["mailto:x@example.com"],
            &["openid"],
            ErrorCode::InvalidTarget,
        ),
    ];
    for (resources, scopes, expected) in cases {
        assert_eq!(
            code(for_request(&apis, &v(resources), &v(scopes))),
            *expected,
            "{resources:?} {scopes:?}"
        );
    }
    let many: Vec<String> = (0..=MAX_RESOURCES).map(|_| CAL.to_string()).collect();
    assert_eq!(
        code(for_request(&apis, &many, &[])),
        ErrorCode::InvalidTarget
    );
}

#[test]
fn a_scope_two_apis_define_picks_no_audience() {
    let apis = vec![api("a", CAL, &["read"]), api("b", MAIL, &["read"])];
    assert_eq!(
        code(for_request(&apis, &[], &v(&["read"]))),
        ErrorCode::InvalidScope
    );
}

#[test]
fn each_token_is_for_one_of_the_granted_apis() {
    let apis = apis();
    let id = |r: Result<Option<&Api>, OAuthError>| r.unwrap().map(|a| a.identifier.clone());
    assert_eq!(id(audience(&apis, &[], None)), None);
    assert_eq!(id(audience(&apis, &v(&[CAL]), None)), Some(CAL.into()));
    assert_eq!(
        id(audience(&apis, &v(&[CAL, MAIL]), Some(MAIL))),
        Some(MAIL.into())
    );
    // A deleted API no longer counts.
    assert_eq!(
        id(audience(
            &apis,
            &v(&["https://gone.example.com", CAL]),
            None
        )),
        Some(CAL.into())
    );
    assert_eq!(
        id(audience(&apis, &v(&["https://gone.example.com"]), None)),
        None
    );

    assert_eq!(
        code(audience(&apis, &v(&[CAL, MAIL]), None)),
        ErrorCode::InvalidTarget
    );
    assert_eq!(
        code(audience(&apis, &v(&[CAL]), Some(MAIL))),
        ErrorCode::InvalidTarget
    );
    assert_eq!(
        code(audience(&apis, &[], Some(CAL))),
        ErrorCode::InvalidTarget
    );
    assert_eq!(
        code(audience(
            &apis,
            &v(&[CAL]),
            Some("https://other.example.com")
        )),
        ErrorCode::InvalidTarget
    );
}

#[test]
fn a_token_carries_its_apis_scopes_and_the_built_in_ones() {
    let apis = apis();
    let granted = v(&[
        "openid",
        "offline_access",
        "calendar.read",
        "mail.read",
        "notes",
    ]);
    assert_eq!(
        token_scopes(&apis, Some(&apis[0]), &granted),
        v(&["openid", "offline_access", "calendar.read"])
    );
    assert_eq!(
        token_scopes(&apis, Some(&apis[1]), &granted),
        v(&["openid", "offline_access", "mail.read"])
    );
    assert_eq!(
        token_scopes(&apis, None, &granted),
        v(&["openid", "offline_access", "notes"])
    );
}

#[test]
fn consent_is_remembered_per_scopes_and_apis() {
    assert_eq!(consent_key(&v(&["openid", "email"]), &[]), "email openid");
    assert_ne!(
        consent_key(&v(&["openid"]), &v(&[CAL])),
        consent_key(&v(&["openid"]), &v(&[MAIL]))
    );
    assert_eq!(
        consent_key(&v(&["calendar.read", "openid"]), &v(&[CAL])),
        consent_key(&v(&["openid", "calendar.read"]), &v(&[CAL]))
    );
}

#[test]
fn the_consent_page_groups_api_scopes_by_api_with_their_descriptions() {
    let apis = apis();
    let words = consent_words(
        &apis,
        &v(&[CAL]),
        &v(&["openid", "calendar.write", "notes"]),
    );
    assert_eq!(words.scopes.len(), 2);
    assert!(words.scopes[1].contains("notes"));
    assert_eq!(
        words.apis,
        vec![ApiWords {
            name: "a API".into(),
            identifier: CAL.into(),
            permissions: v(&["calendar.write things"]),
        }]
    );
    let bare = consent_words(&apis, &v(&[MAIL]), &v(&["openid"]));
    assert_eq!(bare.apis[0].permissions, v(&["Call b API for you"]));
}
