//! The developer console at /developer: the developer API over HTML forms.
use crate::common::{form_value, unique_email, TestApp, PASSWORD};
use reqwest::{header, StatusCode};

#[tokio::test]
async fn console_requires_a_session() {
    let app = TestApp::spawn().await;
    let r = app
        .browser()
        .get(app.url("/developer"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/login?next=/developer");
}

/// The text of the one-time secret box, if the page shows one.
fn shown_secret(page: &str) -> Option<String> {
    let rest = page
        .split("id=\"client-secret\" class=\"secret\">")
        .nth(1)?;
    Some(rest.split('<').next()?.to_string())
}

async fn get_page(browser: &reqwest::Client, url: String) -> (StatusCode, String) {
    let r = browser.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn count_apps(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn console_registers_rotates_and_deletes() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.signup(&browser, &unique_email("console"), PASSWORD)
        .await;
    let (_, page) = get_page(&browser, app.url("/developer")).await;
    assert!(page.contains("No applications yet."));
    let csrf = form_value(&page, "csrf_token").unwrap();

    // Registration answers with a redirect (a reload of the next page repeats nothing); the
    // secret is not in the URL.
    let r = browser
        .post(app.url("/developer/console/applications"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("client_name", "Console app"),
            ("client_type", "confidential"),
            (
                "redirect_uris",
                "https://rp.example/cb\nhttp://127.0.0.1:9000/cb",
            ),
            ("grant_types_shown", "yes"),
            ("grant_types", "authorization_code"),
            ("grant_types", "refresh_token"),
            ("scope", "openid email offline_access"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (id, hash, grants): (String, String, String) =
        sqlx::query_as("SELECT id, secret_hash, grant_types FROM applications")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(grants.contains("authorization_code") && grants.contains("refresh_token"));
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert_eq!(location, format!("/developer/console/{id}?done=created"));
    let (status, created) = get_page(&browser, app.url(&location)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(created.contains("Console app is registered."), "{created}");
    let secret = shown_secret(&created).expect("the secret is shown once");
    assert!(
        app.state.keys.verify_secret(&secret, &hash),
        "the page shows the real secret"
    );
    assert!(created.contains("data-copy=\"client-secret\""));

    // A reload shows it no more, and registers nothing new.
    let (_, again) = get_page(&browser, app.url(&location)).await;
    assert!(
        again.contains("Console app") && !again.contains(&secret) && shown_secret(&again).is_none(),
        "secret shown once"
    );
    assert_eq!(count_apps(&app).await, 1);

    // Rotate: a confirmation page first (nothing changes), then the POST redirects to a page
    // that says a new secret was made and shows it once.
    let (status, confirm) = get_page(
        &browser,
        app.url(&format!("/developer/console/{id}/rotate_secret")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("stops working <strong>at once</strong>"));
    assert!(confirm.contains("class=\"danger\""));
    let (unchanged,): (String,) = sqlx::query_as("SELECT secret_hash FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(unchanged, hash, "the confirmation page rotates nothing");
    let r = browser
        .post(app.url(&format!("/developer/console/{id}/rotate_secret")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(!location.contains(&secret));
    let (new_hash,): (String,) = sqlx::query_as("SELECT secret_hash FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!app.state.keys.verify_secret(&secret, &new_hash));
    let (_, rotated) = get_page(&browser, app.url(&location)).await;
    assert!(rotated.contains("has a new client secret"), "{rotated}");
    assert!(!rotated.contains("is registered"));
    let new_secret = shown_secret(&rotated).expect("new secret shown");
    assert!(app.state.keys.verify_secret(&new_secret, &new_hash));

    // A reload of the rotated page shows the new secret no more.
    let (_, after) = get_page(&browser, app.url(&location)).await;
    assert!(shown_secret(&after).is_none());

    // Bad metadata is shown next to its field with what was typed; nothing is written.
    let r = browser
        .post(app.url("/developer/console/applications"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("client_name", "Bad"),
            ("client_type", "public"),
            ("redirect_uris", "http://example.com/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let refused = r.text().await.unwrap();
    assert!(refused.contains("plain http is only allowed for loopback"));
    assert!(refused.contains("id=\"redirect_uris-error\""), "{refused}");
    let typed = refused
        .split("id=\"redirect_uris\"")
        .nth(1)
        .and_then(|t| t.split("</textarea>").next())
        .unwrap();
    assert!(typed.contains("example.com"), "typed URI kept: {typed}");
    assert!(refused.contains("value=\"Bad\""));
    assert_eq!(count_apps(&app).await, 1);

    // Delete: a confirmation page first; without the CSRF token nothing happens.
    let (status, confirm) = get_page(
        &browser,
        app.url(&format!("/developer/console/{id}/delete")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Delete Console app?"));
    assert_eq!(count_apps(&app).await, 1);
    let r = browser
        .post(app.url(&format!("/developer/console/{id}/delete")))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = browser
        .post(app.url(&format!("/developer/console/{id}/delete")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/developer?done=deleted");
    assert_eq!(count_apps(&app).await, 0);
    let (_, listed) = get_page(&browser, app.url("/developer?done=deleted")).await;
    assert!(listed.contains("The application was deleted"));
}

#[tokio::test]
async fn console_secret_cookie_is_bound_to_the_session() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.signup(&browser, &unique_email("console-seal"), PASSWORD)
        .await;
    let csrf = app.csrf(&browser, "/developer").await;
    let r = browser
        .post(app.url("/developer/console/applications"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("client_name", "Sealed"),
            ("client_type", "confidential"),
            ("redirect_uris", "https://rp.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_string();
    let sealed = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("logi_new_secret="))
        .expect("sealed secret cookie")
        .to_string();
    assert!(sealed.contains("HttpOnly") && sealed.contains("Max-Age=300"));
    let value = sealed
        .trim_start_matches("logi_new_secret=")
        .split(';')
        .next()
        .unwrap()
        .to_string();

    // The same developer, in another session, with the cookie copied over: nothing shown.
    let other = app.browser();
    let email: (String,) = sqlx::query_as("SELECT email FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let login = app.login(&other, &email.0, PASSWORD).await;
    let session = login
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("logi_session="))
        .expect("session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = app
        .api()
        .get(app.url(&location))
        .header(
            header::COOKIE,
            format!("{session}; logi_new_secret={value}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(shown_secret(&r.text().await.unwrap()).is_none());

    // After five minutes the sealed value has expired, even in the right session.
    app.advance(301);
    let (_, page) = get_page(&browser, app.url(&location)).await;
    assert!(shown_secret(&page).is_none());
}

#[tokio::test]
async fn console_edits_every_metadata_field() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let email = unique_email("console-edit");
    app.signup(&browser, &email, PASSWORD).await;
    let csrf = app.csrf(&browser, "/developer").await;
    let r = browser
        .post(app.url("/developer/console/applications"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("client_name", "Notes"),
            ("client_type", "public"),
            ("redirect_uris", "https://notes.example/cb"),
            ("grant_types_shown", "yes"),
            ("grant_types", "authorization_code"),
            (
                "grant_types",
                "urn:ietf:params:oauth:grant-type:device_code",
            ),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (id,): (String,) = sqlx::query_as("SELECT id FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (_, page) = get_page(&browser, app.url(&format!("/developer/console/{id}"))).await;
    assert!(page.contains("Sign in on a TV or command-line tool (device code)"));
    assert!(
        page.contains("value=\"urn:ietf:params:oauth:grant-type:device_code\" checked"),
        "the device grant's checkbox is ticked"
    );
    assert!(
        shown_secret(&page).is_none(),
        "a public client has no secret"
    );
    assert!(!page.contains("/rotate_secret"));

    let edit = |fields: Vec<(&'static str, &'static str)>| {
        let (browser, url, csrf) = (
            browser.clone(),
            app.url(&format!("/developer/console/{id}/edit")),
            csrf.clone(),
        );
        async move {
            let mut form = vec![("csrf_token", csrf.as_str().to_owned())];
            form.extend(fields.into_iter().map(|(k, v)| (k, v.to_owned())));
            let r = browser.post(url).form(&form).send().await.unwrap();
            let status = r.status();
            let location = r
                .headers()
                .get(header::LOCATION)
                .map(|v| v.to_str().unwrap().to_string());
            (status, location, r.text().await.unwrap())
        }
    };
    let (status, location, body) = edit(vec![
        ("client_name", "Notes 2"),
        (
            "redirect_uris",
            "https://notes.example/cb\nhttps://notes.example/cb2",
        ),
        ("post_logout_redirect_uris", "https://notes.example/bye"),
        ("allowed_cors_origins", "https://app.notes.example"),
        ("grant_types_shown", "yes"),
        ("grant_types", "authorization_code"),
        ("grant_types", "refresh_token"),
        ("scope", "openid offline_access"),
        ("backchannel_logout_uri", "https://notes.example/bcl"),
        ("refresh_token_reuse_interval_seconds", "30"),
        ("require_pushed_authorization_requests", "yes"),
        ("dpop_bound_access_tokens", "yes"),
        ("id_token_signed_response_alg", "ES256"),
    ])
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = location.unwrap();
    assert_eq!(location, format!("/developer/console/{id}?done=saved"));
    let (_, saved) = get_page(&browser, app.url(&location)).await;
    assert!(saved.contains("Your changes are saved."));

    // The JSON API sees every change.
    let r = app
        .api()
        .post(app.url("/developer/tokens"))
        .json(&serde_json::json!({ "email": email, "password": PASSWORD, "name": "t" }))
        .send()
        .await
        .unwrap();
    let token = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .api()
        .get(app.url(&format!("/developer/applications/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["client_name"], "Notes 2");
    assert_eq!(
        v["redirect_uris"],
        serde_json::json!(["https://notes.example/cb", "https://notes.example/cb2"])
    );
    assert_eq!(
        v["post_logout_redirect_uris"],
        serde_json::json!(["https://notes.example/bye"])
    );
    assert_eq!(
        v["allowed_cors_origins"],
        serde_json::json!(["https://app.notes.example"])
    );
    assert_eq!(
        v["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(v["backchannel_logout_uri"], "https://notes.example/bcl");
    assert_eq!(v["refresh_token_reuse_interval_seconds"], 30);
    assert_eq!(v["require_pushed_authorization_requests"], true);
    assert_eq!(v["dpop_bound_access_tokens"], true);
    assert_eq!(v["id_token_signed_response_alg"], "ES256");

    // A refused edit keeps what was typed, names the field, and changes nothing.
    let (status, _, body) = edit(vec![
        ("client_name", "Typed name"),
        ("redirect_uris", "https://notes.example/cb"),
        ("grant_types_shown", "yes"),
        ("grant_types", "refresh_token"),
        ("refresh_token_reuse_interval_seconds", "soon"),
    ])
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("id=\"refresh_token_reuse_interval_seconds-error\""),
        "{body}"
    );
    assert!(body.contains("value=\"Typed name\""));
    let (status, _, body) = edit(vec![
        ("client_name", "Typed name"),
        ("redirect_uris", "https://notes.example/cb"),
        ("grant_types_shown", "yes"),
    ])
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("choose at least one grant type"), "{body}");
    let (name,): (String,) = sqlx::query_as("SELECT client_name FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "Notes 2");

    // Emptying optional fields clears them; an empty CORS field is the default again.
    let (status, _, body) = edit(vec![
        ("client_name", "Notes 2"),
        ("redirect_uris", "https://notes.example/cb"),
        ("grant_types_shown", "yes"),
        ("grant_types", "authorization_code"),
        ("scope", "openid"),
    ])
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let v: serde_json::Value = app
        .api()
        .get(app.url(&format!("/developer/applications/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["backchannel_logout_uri"], serde_json::Value::Null);
    assert_eq!(v["post_logout_redirect_uris"], serde_json::json!([]));
    assert_eq!(
        v["allowed_cors_origins"],
        serde_json::json!(["https://notes.example"])
    );
    assert_eq!(v["dpop_bound_access_tokens"], false);
}

#[tokio::test]
async fn pages_serve_a_favicon_and_the_console_script_under_the_csp() {
    let app = TestApp::spawn().await;
    let r = app.api().get(app.url("/favicon.ico")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/x-icon");
    assert_eq!(&r.bytes().await.unwrap()[..4], &[0, 0, 1, 0]);
    let r = app
        .api()
        .get(app.url("/assets/console.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("clipboard"));
    let r = app.api().get(app.url("/login")).send().await.unwrap();
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(r.text().await.unwrap().contains("href=\"/favicon.ico\""));
}

#[tokio::test]
async fn console_registers_key_based_clients_and_back_channel_logout() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.signup(&browser, &unique_email("console-keys"), PASSWORD)
        .await;
    let csrf = app.csrf(&browser, "/developer").await;
    let register = |fields: Vec<(&'static str, String)>| {
        let (browser, url, csrf) = (
            browser.clone(),
            app.url("/developer/console/applications"),
            csrf.clone(),
        );
        async move {
            let mut form = vec![
                ("csrf_token", csrf),
                ("client_type", "confidential".to_string()),
                ("redirect_uris", "https://rp.example/cb".to_string()),
                ("grant_types", "authorization_code".to_string()),
                ("scope", "openid".to_string()),
            ];
            form.extend(fields);
            let r = browser.post(url).form(&form).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    // A JWK Set URL and a back-channel logout URL: registered, no secret shown.
    let (status, page) = register(vec![
        ("client_name", "By URI".into()),
        ("token_endpoint_auth_method", "private_key_jwt".into()),
        ("jwks_uri", "https://rp.example/jwks".into()),
        ("backchannel_logout_uri", "https://rp.example/logout".into()),
        ("backchannel_logout_session_required", "yes".into()),
    ])
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let row: (String, Option<String>, Option<String>, i64) = sqlx::query_as(
        "SELECT token_endpoint_auth_method, jwks_uri, backchannel_logout_uri, \
         backchannel_logout_session_required FROM applications WHERE client_name = 'By URI'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "private_key_jwt".to_string(),
            Some("https://rp.example/jwks".to_string()),
            Some("https://rp.example/logout".to_string()),
            1
        )
    );
    // A pasted JWK Set works too.
    let jwk = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
    let (status, page) = register(vec![
        ("client_name", "Inline".into()),
        ("token_endpoint_auth_method", "private_key_jwt".into()),
        ("jwks", jwk.into()),
    ])
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    // Refused: plain http to another host, both kinds of keys, keys that are not JSON.
    for (what, fields) in [
        (
            "http jwks_uri",
            vec![
                ("token_endpoint_auth_method", "private_key_jwt".to_string()),
                ("jwks_uri", "http://rp.example/jwks".to_string()),
            ],
        ),
        (
            "both",
            vec![
                ("token_endpoint_auth_method", "private_key_jwt".to_string()),
                ("jwks_uri", "https://rp.example/jwks".to_string()),
                ("jwks", jwk.to_string()),
            ],
        ),
        (
            "not JSON",
            vec![
                ("token_endpoint_auth_method", "private_key_jwt".to_string()),
                ("jwks", "keys please".to_string()),
            ],
        ),
        (
            "http logout",
            vec![(
                "backchannel_logout_uri",
                "http://rp.example/logout".to_string(),
            )],
        ),
    ] {
        let mut fields = fields;
        fields.push(("client_name", format!("Refused {what}")));
        let (status, page) = register(fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
        assert!(page.contains("role=\"alert\""), "{what}: {page}");
        assert!(
            page.contains(&format!("value=\"Refused {what}\"")),
            "{what}: typed name kept"
        );
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 2);
}
