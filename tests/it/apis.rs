//! Protected APIs and resource indicators (SPEC "Protected APIs (resource servers) and resource
//! indicators", RFC 8707): the developer API, audiences and scopes of every grant, consent.

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::common::{json_of, jwt_claims, location_params, pkce_pair, Rp, TestApp};

const CAL: &str = "https://calendar.example.com";
const MAIL: &str = "https://mail.example.com/api";

fn calendar() -> Value {
    json!({
        "name": "Calendar",
        "identifier": CAL,
        "scopes": [
            {"name": "calendar.read", "description": "See your calendar"},
            {"name": "calendar.write", "description": "Change your calendar"}
        ]
    })
}

fn mail() -> Value {
    json!({
        "name": "Mail",
        "identifier": MAIL,
        "scopes": [{"name": "mail.read", "description": "Read your mail"}],
        "access_token_ttl_seconds": 120
    })
}

async fn post_api(app: &TestApp, token: &str, body: &Value) -> (StatusCode, Value) {
    let r = app
        .api()
        .post(app.url("/developer/apis"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    json_of(r).await
}

async fn create_api(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, created) = post_api(app, token, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.api().request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A confidential client whose developer registered the calendar and mail APIs.
async fn rp_with_apis(app: &TestApp, grant_types: Value, scope: &str) -> Rp {
    let rp = app
        .rp(json!({"client_type": "confidential", "grant_types": grant_types, "scope": "openid"}))
        .await;
    create_api(app, &rp.dev_token, calendar()).await;
    create_api(app, &rp.dev_token, mail()).await;
    let (status, body) = call(
        app,
        &rp.dev_token,
        reqwest::Method::PATCH,
        &format!("/developer/applications/{}", rp.app_id),
        Some(json!({ "scope": scope })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rp
}

#[tokio::test]
async fn developers_register_list_change_and_delete_their_apis() {
    let app = TestApp::spawn().await;
    let dev = app.developer(&crate::common::unique_email("dev")).await;
    let other = app.developer(&crate::common::unique_email("other")).await;

    let created = create_api(&app, &dev, calendar()).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["identifier"], CAL);
    assert_eq!(created["scopes"][1]["description"], "Change your calendar");
    assert_eq!(created["access_token_ttl_seconds"], Value::Null);

    let (status, list) = call(&app, &dev, reqwest::Method::GET, "/developer/apis", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["apis"].as_array().unwrap().len(), 1);
    // Another developer sees nothing of it.
    let (_, theirs) = call(&app, &other, reqwest::Method::GET, "/developer/apis", None).await;
    assert_eq!(theirs["apis"], json!([]));
    let path = format!("/developer/apis/{id}");
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let (status, body) = call(&app, &other, method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, _) = call(
        &app,
        &other,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"name": "Mine now"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The identifier is unique across logi and never changes.
    let (status, body) = post_api(&app, &other, &calendar()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = call(
        &app,
        &dev,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"identifier": MAIL})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    let (status, body) = call(
        &app,
        &dev,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"name": "Agenda", "access_token_ttl_seconds": 300,
                     "scopes": [{"name": "calendar.read", "description": "See your agenda"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Agenda");
    assert_eq!(body["scopes"].as_array().unwrap().len(), 1);
    let (_, shown) = call(&app, &dev, reqwest::Method::GET, &path, None).await;
    assert_eq!(shown["scopes"][0]["description"], "See your agenda");
    assert_eq!(shown["access_token_ttl_seconds"], 300);

    // A scope name belongs to one of a developer's APIs.
    let (status, body) = post_api(
        &app,
        &dev,
        &json!({"name": "Dup", "identifier": "https://dup.example.com",
                "scopes": [{"name": "calendar.read", "description": "Again"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, _) = call(&app, &dev, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&app, &dev, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_apis_are_refused_with_a_4xx_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let dev = app.developer(&crate::common::unique_email("dev")).await;
    let bad = [
        json!({"name": "A"}),
        json!({"identifier": "https://a.example.com"}),
        json!({"name": "A", "identifier": "http://a.example.com"}),
        json!({"name": "A", "identifier": "https://a.example.com#f"}),
        json!({"name": "A", "identifier": app.url("")}),
        json!({"name": "A", "identifier": "https://a.example.com", "scopes": [{"name": "openid", "description": "x"}]}),
        json!({"name": "A", "identifier": "https://a.example.com", "scopes": [{"name": "read"}]}),
        json!({"name": "A", "identifier": "https://a.example.com", "scopes": "read"}),
        json!({"name": "A", "identifier": "https://a.example.com", "access_token_ttl_seconds": 5}),
        json!({"name": "A", "identifier": "https://a.example.com", "access_token_ttl_seconds": "600"}),
        json!(["not", "an", "object"]),
    ];
    for body in bad {
        let (status, answer) = post_api(&app, &dev, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert_eq!(answer["error"], "invalid_request", "{body}");
    }
    let (_, list) = call(&app, &dev, reqwest::Method::GET, "/developer/apis", None).await;
    assert_eq!(list["apis"], json!([]));
    let r = app
        .api()
        .post(app.url("/developer/apis"))
        .json(&calendar())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_application_may_list_its_own_developers_api_scopes_only() {
    let app = TestApp::spawn().await;
    let owner = app.developer(&crate::common::unique_email("owner")).await;
    create_api(&app, &owner, calendar()).await;
    let mine = app
        .post_app(
            &owner,
            &json!({"client_name": "M", "client_type": "confidential", "grant_types": ["client_credentials"],
                    "scope": "calendar.read"}),
        )
        .await;
    let (status, body) = json_of(mine).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let other = app.developer(&crate::common::unique_email("other")).await;
    let (status, body) = json_of(
        app.post_app(
            &other,
            &json!({"client_name": "M", "client_type": "confidential", "grant_types": ["client_credentials"],
                    "scope": "notes calendar.write"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_client_metadata");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("calendar.write"));

    let theirs = app
        .register(
            &other,
            json!({"client_name": "M", "client_type": "confidential", "grant_types": ["client_credentials"],
                   "scope": "notes"}),
        )
        .await;
    let (status, body) = call(
        &app,
        &other,
        reqwest::Method::PATCH,
        &format!("/developer/applications/{}", theirs["id"].as_str().unwrap()),
        Some(json!({"scope": "notes calendar.read"})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );
}

async fn client_credentials(app: &TestApp, rp: &Rp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut f = vec![("grant_type", "client_credentials")];
    f.extend_from_slice(form);
    json_of(app.token(rp, &f).await).await
}

#[tokio::test]
async fn client_credentials_tokens_name_their_api() {
    let app = TestApp::spawn().await;
    let rp = rp_with_apis(
        &app,
        json!(["client_credentials"]),
        "calendar.read calendar.write mail.read notes",
    )
    .await;

    let (status, body) = client_credentials(&app, &rp, &[("resource", CAL)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "calendar.read calendar.write");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], CAL);
    assert_eq!(claims["scope"], "calendar.read calendar.write");

    // Scopes of one API name it; its own lifetime applies.
    let (status, body) = client_credentials(&app, &rp, &[("scope", "mail.read")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 120);
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], MAIL);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );

    // No API scope: the token is for logi itself.
    let (status, body) = client_credentials(&app, &rp, &[("scope", "notes")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        app.url("")
    );

    let refused: &[(&[(&str, &str)], &str)] = &[
        (&[("scope", "calendar.read mail.read")], "invalid_scope"),
        (&[], "invalid_scope"),
        (
            &[("resource", CAL), ("scope", "mail.read")],
            "invalid_scope",
        ),
        (
            &[("resource", "https://unknown.example.com")],
            "invalid_target",
        ),
        (&[("resource", "not a uri")], "invalid_target"),
        (&[("resource", CAL), ("resource", MAIL)], "invalid_target"),
    ];
    for (form, error) in refused {
        let (status, body) = client_credentials(&app, &rp, form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?} → {body}");
        assert_eq!(body["error"], *error, "{form:?}");
    }

    // Another developer's API is not a resource for this client.
    let stranger = app
        .developer(&crate::common::unique_email("stranger"))
        .await;
    create_api(
        &app,
        &stranger,
        json!({"name": "Theirs", "identifier": "https://theirs.example.com"}),
    )
    .await;
    let (_, body) =
        client_credentials(&app, &rp, &[("resource", "https://theirs.example.com")]).await;
    assert_eq!(body["error"], "invalid_target");
}

/// authorize (+ consent) with `extra`; returns the redirect back to the client.
async fn authorized(
    app: &TestApp,
    rp: &Rp,
    extra: &[(&str, &str)],
    challenge: &str,
) -> reqwest::Response {
    let mut q = vec![
        ("state", "s"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    let r = app.authorize(rp, &q).await;
    if r.status() == StatusCode::OK {
        app.decide(rp, r, "allow").await
    } else {
        r
    }
}

async fn exchange(
    app: &TestApp,
    rp: &Rp,
    code: &str,
    verifier: &str,
    resource: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("code_verifier", verifier),
    ];
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    json_of(app.token(rp, &form).await).await
}

#[tokio::test]
async fn the_consent_page_describes_api_scopes_under_the_api_name() {
    let app = TestApp::spawn().await;
    let rp = rp_with_apis(
        &app,
        json!(["authorization_code"]),
        "openid calendar.read calendar.write",
    )
    .await;
    let (_, challenge) = pkce_pair();
    let r = app
        .authorize(
            &rp,
            &[
                ("scope", "openid calendar.write"),
                ("resource", CAL),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("<h2 class=\"api\">Calendar</h2>"), "{page}");
    assert!(page.contains("Change your calendar"), "{page}");
    assert!(
        !page.contains("calendar.write"),
        "the raw scope name is not shown: {page}"
    );
    assert!(
        !page.contains("See your calendar"),
        "only requested scopes: {page}"
    );
}

#[tokio::test]
async fn a_code_flow_grant_covers_its_apis_and_each_token_names_one() {
    let app = TestApp::spawn().await;
    let rp = rp_with_apis(
        &app,
        json!(["authorization_code", "refresh_token"]),
        "openid offline_access calendar.read mail.read notes",
    )
    .await;
    let (verifier, challenge) = pkce_pair();
    let r = authorized(
        &app,
        &rp,
        &[
            (
                "scope",
                "openid offline_access calendar.read mail.read notes",
            ),
            ("resource", CAL),
            ("resource", MAIL),
        ],
        &challenge,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let code = location_params(&r)["code"].clone();

    // Two APIs: the token request must pick one, before the code is spent.
    let (status, body) = exchange(&app, &rp, &code, &verifier, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "{body}"
    );
    let (status, body) = exchange(
        &app,
        &rp,
        &code,
        &verifier,
        Some("https://unknown.example.com"),
    )
    .await;
    assert_eq!(body["error"], "invalid_target", "{status} {body}");
    let (status, body) = exchange(&app, &rp, &code, &verifier, Some(MAIL)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid offline_access mail.read");
    assert_eq!(body["expires_in"], 120);
    let access = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&access)["aud"], MAIL);
    let refresh = body["refresh_token"].as_str().unwrap().to_string();

    // Introspection reports the audience; userinfo answers the token (it carries openid).
    let r = app
        .api()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    let (_, intro) = json_of(r).await;
    assert_eq!(
        (intro["active"].as_bool(), intro["aud"].as_str()),
        (Some(true), Some(MAIL))
    );
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // A refresh narrows to another of the grant's APIs; never to one outside it.
    let refresh_with = |token: String, resource: Option<&'static str>| {
        let app = &app;
        let rp = &rp;
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
            ];
            if let Some(r) = resource {
                form.push(("resource", r));
            }
            json_of(app.token(rp, &form).await).await
        }
    };
    let (status, body) = refresh_with(refresh.clone(), Some("https://unknown.example.com")).await;
    assert_eq!(body["error"], "invalid_target", "{status} {body}");
    let (status, body) = refresh_with(refresh.clone(), Some(CAL)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid offline_access calendar.read");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        CAL
    );
    let (status, body) =
        refresh_with(body["refresh_token"].as_str().unwrap().to_string(), None).await;
    assert_eq!(body["error"], "invalid_target", "{status} {body}");
}

#[tokio::test]
async fn without_resource_the_requested_api_scopes_pick_the_audience() {
    let app = TestApp::spawn().await;
    let rp = rp_with_apis(
        &app,
        json!(["authorization_code", "refresh_token"]),
        "openid offline_access calendar.read mail.read notes",
    )
    .await;
    let (verifier, challenge) = pkce_pair();
    let r = authorized(
        &app,
        &rp,
        &[("scope", "openid offline_access calendar.read notes")],
        &challenge,
    )
    .await;
    let code = location_params(&r)["code"].clone();
    let (status, body) = exchange(&app, &rp, &code, &verifier, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid offline_access calendar.read");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        CAL
    );
    // The refresh of a one-API grant stays with that API.
    let (_, body) = json_of(
        app.token(
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        CAL
    );

    // No API scope: the issuer is the audience, and the free-form scope is kept.
    let (verifier, challenge) = pkce_pair();
    let r = authorized(&app, &rp, &[("scope", "openid notes")], &challenge).await;
    let code = location_params(&r)["code"].clone();
    let (status, body) = exchange(&app, &rp, &code, &verifier, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid notes");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        app.url("")
    );

    // Errors go back to the client (RFC 8707 §2: invalid_target; two APIs: invalid_scope).
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("scope", "openid calendar.read mail.read")],
            "invalid_scope",
        ),
        (
            &[("scope", "openid mail.read"), ("resource", CAL)],
            "invalid_scope",
        ),
        (
            &[
                ("scope", "openid"),
                ("resource", "https://unknown.example.com"),
            ],
            "invalid_target",
        ),
        (
            &[("scope", "openid"), ("resource", "relative/path")],
            "invalid_target",
        ),
    ];
    app.set_verified(&rp.client_id, true).await;
    for (extra, error) in cases {
        let (_, challenge) = pkce_pair();
        let r = authorized(&app, &rp, extra, &challenge).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{extra:?}");
        assert_eq!(location_params(&r)["error"], *error, "{extra:?}");
    }
}

#[tokio::test]
async fn consent_to_one_api_is_not_consent_to_another() {
    let app = TestApp::spawn().await;
    let rp = rp_with_apis(&app, json!(["authorization_code"]), "openid").await;
    let (_, challenge) = pkce_pair();
    let r = authorized(
        &app,
        &rp,
        &[("scope", "openid"), ("resource", CAL)],
        &challenge,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let ask = |resource: &'static str| {
        let (app, rp, challenge) = (&app, &rp, challenge.clone());
        async move {
            app.authorize(
                rp,
                &[
                    ("scope", "openid"),
                    ("resource", resource),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await
        }
    };
    // The same scopes for the same API: remembered.
    assert_eq!(ask(CAL).await.status(), StatusCode::SEE_OTHER);
    // For another API: asked again.
    let r = ask(MAIL).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Call Mail for you"));
}

#[tokio::test]
async fn a_pushed_request_with_a_bad_resource_is_refused_as_json() {
    let app = TestApp::spawn().await;
    let rp = rp_with_apis(&app, json!(["authorization_code"]), "openid calendar.read").await;
    let (_, challenge) = pkce_pair();
    let push = |resource: &'static str| {
        let app = &app;
        let rp = &rp;
        let challenge = challenge.clone();
        async move {
            let r = app
                .api()
                .post(app.url("/oauth/par"))
                .basic_auth(&rp.client_id, rp.client_secret.as_deref())
                .form(&[
                    ("response_type", "code"),
                    ("redirect_uri", rp.redirect_uri.as_str()),
                    ("scope", "openid calendar.read"),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                    ("resource", resource),
                ])
                .send()
                .await
                .unwrap();
            json_of(r).await
        }
    };
    let (status, body) = push("https://unknown.example.com").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "{body}"
    );
    let (status, body) = push(CAL).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn the_device_flow_carries_its_resource_to_the_token() {
    let app = TestApp::spawn().await;
    let rp = rp_with_apis(
        &app,
        json!(["urn:ietf:params:oauth:grant-type:device_code"]),
        "openid mail.read",
    )
    .await;
    let r = app
        .api()
        .post(app.url("/oauth/device_authorization"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[("scope", "openid mail.read"), ("resource", CAL)])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope")),
        "{body}"
    );

    let r = app
        .api()
        .post(app.url("/oauth/device_authorization"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[("scope", "openid mail.read"), ("resource", MAIL)])
        .send()
        .await
        .unwrap();
    let (status, started) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let user_code = started["user_code"].as_str().unwrap();
    // The person approves on /device: the consent names the API.
    let csrf = app.csrf(&rp.user, "/device").await;
    let page = rp
        .user
        .post(app.url("/device"))
        .form(&[("csrf_token", csrf.as_str()), ("user_code", user_code)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Read your mail") && page.contains(">Mail</h2>"),
        "{page}"
    );
    let csrf = crate::helpers::form_value(&page, "csrf_token").unwrap();
    let r = rp
        .user
        .post(app.url("/device"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("user_code", user_code),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = app
        .token(
            &rp,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", started["device_code"].as_str().unwrap()),
            ],
        )
        .await;
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        MAIL
    );
    assert_eq!(body["scope"], "openid mail.read");
}

#[tokio::test]
async fn another_process_sees_a_new_api_at_once() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({"client_name": "M", "client_type": "confidential", "grant_types": ["client_credentials"], "scope": "notes"}))
        .await;
    let sibling = app.spawn_sibling(|_| {}).await;
    // The sibling caches the owner's (empty) API list.
    let (status, body) = client_credentials(&sibling, &rp, &[("resource", CAL)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
    create_api(&app, &rp.dev_token, calendar()).await;
    let mut last = Value::Null;
    for _ in 0..50 {
        let (status, body) = client_credentials(&sibling, &rp, &[("resource", CAL)]).await;
        if status == StatusCode::OK {
            assert_eq!(
                jwt_claims(body["access_token"].as_str().unwrap())["aud"],
                CAL
            );
            return;
        }
        last = body;
        crate::common::pause_ms(100).await;
    }
    panic!("the sibling never saw the new API: {last}");
}

#[tokio::test]
async fn the_console_lists_and_registers_apis() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let email = crate::common::unique_email("console");
    app.signup(&browser, &email, crate::common::PASSWORD).await;
    let csrf = app.csrf(&browser, "/developer").await;
    let r = browser
        .post(app.url("/developer/console/apis"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Calendar"),
            ("identifier", CAL),
            (
                "scopes",
                "calendar.read See your calendar\r\ncalendar.write Change it\r\n",
            ),
            ("access_token_ttl_seconds", "300"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(r.headers()[header::LOCATION], "/developer");
    let page = browser
        .get(app.url("/developer"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("calendar.example.com")
            && page.contains("See your calendar")
            && page.contains("300 s"),
        "{page}"
    );

    let csrf = app.csrf(&browser, "/developer").await;
    let r = browser
        .post(app.url("/developer/console/apis"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Bad"),
            ("identifier", "ftp://x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("https"));
}

async fn introspect_as(app: &TestApp, client: &Value, token: &str) -> Value {
    let r = app
        .api()
        .post(app.url("/oauth/introspect"))
        .basic_auth(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str(),
        )
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    json_of(r).await.1
}

#[tokio::test]
async fn a_resource_server_introspects_the_tokens_of_its_developers_apis_only() {
    let app = TestApp::spawn().await;
    let rp = rp_with_apis(&app, json!(["client_credentials"]), "calendar.read notes").await;
    // The API's resource server: another confidential client of the same developer.
    let rs = app
        .register(
            &rp.dev_token,
            json!({"client_name": "Calendar RS", "client_type": "confidential",
                   "grant_types": ["client_credentials"], "scope": "notes"}),
        )
        .await;
    let (_, for_api) = client_credentials(&app, &rp, &[("resource", CAL)]).await;
    let for_api = for_api["access_token"].as_str().unwrap();
    let (_, for_logi) = client_credentials(&app, &rp, &[("scope", "notes")]).await;
    let for_logi = for_logi["access_token"].as_str().unwrap();

    let seen = introspect_as(&app, &rs, for_api).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["aud"], CAL);
    assert_eq!(seen["client_id"], rp.client_id);
    // A token for logi itself, issued to another client, stays private to that client.
    assert_eq!(
        introspect_as(&app, &rs, for_logi).await,
        json!({"active": false})
    );
    // Another developer's client sees nothing.
    let stranger = app
        .developer(&crate::common::unique_email("stranger"))
        .await;
    let theirs = app
        .register(
            &stranger,
            json!({"client_name": "Other RS", "client_type": "confidential",
                   "grant_types": ["client_credentials"], "scope": "x"}),
        )
        .await;
    assert_eq!(
        introspect_as(&app, &theirs, for_api).await,
        json!({"active": false})
    );
}
