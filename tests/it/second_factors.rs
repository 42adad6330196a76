//! Second factors over real HTTP (SPEC "End users: … second factors"): TOTP enrolment with codes
//! computed here from the `otpauth://` URI (RFC 6238 written out in this file, not logi's), the
//! second step at `/login/mfa` and its throttle, recovery codes, `acr_values` forcing the
//! second step, and `amr`/`acr` in ID tokens and introspection. Passkeys run in a real browser:
//! `tests/browser/run.sh`.

use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};

use crate::common::{
    form_value, json_of, jwt_claims, location_params, pkce_pair, unique_email, Rp, TestApp,
    PASSWORD,
};

const ACR_MFA: &str = "urn:logi:acr:mfa";
const ACR_PWD: &str = "urn:logi:acr:pwd";

// ---------------------------------------------------------------------------------------------
// RFC 6238 as an authenticator app computes it
// ---------------------------------------------------------------------------------------------

/// RFC 4648 base32 (upper case, no padding) to bytes.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// HOTP(secret, floor(time / 30)) truncated to six digits (RFC 4226 §5.3, RFC 6238 §4).
fn totp_at(secret: &[u8], time: i64) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let counter = (time / 30) as u64;
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[19] & 0x0f) as usize;
    let value = u32::from_be_bytes(mac[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

#[test]
fn the_test_totp_matches_rfc_6238_appendix_b() {
    // SHA-1 rows of the RFC's table, last six of the eight digits.
    let secret = b"12345678901234567890";
    assert_eq!(totp_at(secret, 59), "287082");
    assert_eq!(totp_at(secret, 1111111109), "081804");
    assert_eq!(totp_at(secret, 2000000000), "279037");
}

/// minijinja's escaping undone for what a URI holds.
fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of the element carrying `attribute` (`<code data-otpauth-uri>…</code>`).
fn element_text(html: &str, attribute: &str) -> Option<String> {
    let at = html.find(attribute)?;
    let start = html[at..].find('>')? + at + 1;
    let end = html[start..].find('<')? + start;
    Some(unescape(&html[start..end]))
}

/// Every value of `attribute="…"` in the page.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!("{attribute}=\"");
    html.match_indices(&marker)
        .map(|(i, _)| {
            let start = i + marker.len();
            let end = html[start..].find('"').unwrap() + start;
            unescape(&html[start..end])
        })
        .collect()
}

/// The secret of an `otpauth://totp/…?secret=…&issuer=logi` URI.
fn secret_of(uri: &str) -> Vec<u8> {
    let url = reqwest::Url::parse(uri).expect("an otpauth URI");
    assert_eq!(url.scheme(), "otpauth");
    assert_eq!(url.host_str(), Some("totp"));
    let secret = url
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v.into_owned())
        .expect("secret parameter");
    base32_decode(&secret)
}

// ---------------------------------------------------------------------------------------------
// Flows
// ---------------------------------------------------------------------------------------------

fn session_cookie_set(r: &reqwest::Response) -> bool {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with("logi_session=") && !v.contains("Max-Age=0"))
}

fn location(r: &reqwest::Response) -> String {
    r.headers()[header::LOCATION].to_str().unwrap().to_string()
}

async fn page(browser: &Client, url: String) -> (StatusCode, String) {
    let r = browser.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Enrols TOTP for the signed-in `browser`; returns the secret and the recovery codes.
async fn enrol_totp(app: &TestApp, browser: &Client) -> (Vec<u8>, Vec<String>) {
    let (status, html) = page(browser, app.url("/account/totp")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<svg"), "the page shows the QR code inline");
    let uri = element_text(&html, "data-otpauth-uri").expect("the otpauth URI as text");
    assert!(
        uri.starts_with("otpauth://totp/logi:") && uri.ends_with("&issuer=logi"),
        "{uri}"
    );
    let secret = secret_of(&uri);
    let r = browser
        .post(app.url("/account/totp"))
        .form(&[
            ("csrf_token", form_value(&html, "csrf_token").unwrap()),
            ("enrolment", form_value(&html, "enrolment").unwrap()),
            ("code", totp_at(&secret, app.now())),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let codes = attribute_values(&html, "data-recovery-code");
    assert_eq!(codes.len(), 10, "ten recovery codes: {html}");
    (secret, codes)
}

/// A new account signed in in a fresh browser, with TOTP enrolled; the clock moved on a step
/// so the enrolment's code is past.
async fn account_with_totp(app: &TestApp) -> (String, Vec<u8>, Vec<String>) {
    let email = unique_email("mfa");
    let browser = app.browser();
    assert_eq!(
        app.signup(&browser, &email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let (secret, codes) = enrol_totp(app, &browser).await;
    app.advance(30);
    (email, secret, codes)
}

/// Password login in a fresh browser: must lead to `/login/mfa` without a session.
async fn password_step(app: &TestApp, email: &str) -> Client {
    let browser = app.browser();
    let r = app.login(&browser, email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login/mfa");
    assert!(!session_cookie_set(&r), "no session before the second step");
    browser
}

async fn post_code(app: &TestApp, browser: &Client, code: &str) -> reqwest::Response {
    post_code_next(app, browser, code, None).await
}

async fn post_code_next(
    app: &TestApp,
    browser: &Client,
    code: &str,
    next: Option<&str>,
) -> reqwest::Response {
    let url = match next {
        Some(n) => format!(
            "/login/mfa?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", n)
                .finish()
        ),
        None => "/login/mfa".into(),
    };
    let csrf = app.csrf(browser, &url).await;
    let mut form = vec![("csrf_token", csrf.as_str()), ("code", code)];
    if let Some(n) = next {
        form.push(("next", n));
    }
    browser
        .post(app.url("/login/mfa"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn signed_in(app: &TestApp, browser: &Client) -> bool {
    let r = browser.get(app.url("/account")).send().await.unwrap();
    r.status() == StatusCode::OK
}

async fn sessions_of(app: &TestApp, email: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(&app.db)
    .await
    .unwrap();
    n
}

#[tokio::test]
async fn totp_enrolment_turns_on_the_second_step_and_no_session_exists_before_it() {
    let app = TestApp::spawn().await;
    let (email, secret, _) = account_with_totp(&app).await;
    let before = sessions_of(&app, &email).await;

    let browser = password_step(&app, &email).await;
    assert_eq!(
        sessions_of(&app, &email).await,
        before,
        "no session row yet"
    );
    assert!(!signed_in(&app, &browser).await);
    let (status, html) = page(&browser, app.url("/login/mfa")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("name=\"code\""), "{html}");

    let r = post_code(&app, &browser, &totp_at(&secret, app.now())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    assert!(session_cookie_set(&r));
    assert!(signed_in(&app, &browser).await);
    assert_eq!(sessions_of(&app, &email).await, before + 1);
}

#[tokio::test]
async fn the_secret_is_stored_only_sealed_and_only_once_confirmed() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let email = unique_email("sealed");
    app.signup(&browser, &email, PASSWORD).await;
    let (_, html) = page(&browser, app.url("/account/totp")).await;
    let uri = element_text(&html, "data-otpauth-uri").unwrap();
    let secret_b32 = reqwest::Url::parse(&uri)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .unwrap()
        .1
        .into_owned();
    let enrolment = form_value(&html, "enrolment").unwrap();
    assert!(
        !enrolment.contains(&secret_b32),
        "the form carries it sealed"
    );
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM totp_factors")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 0, "nothing stored before the code confirms it");

    // A wrong code keeps the same secret on the page (the app scanned it already).
    let r = browser
        .post(app.url("/account/totp"))
        .form(&[
            ("csrf_token", form_value(&html, "csrf_token").unwrap()),
            ("enrolment", enrolment.clone()),
            ("code", "000000".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        element_text(&r.text().await.unwrap(), "data-otpauth-uri").unwrap(),
        uri
    );

    // An enrolment sealed for another account does not open for this one.
    let other = app.browser();
    app.signup(&other, &unique_email("other"), PASSWORD).await;
    let csrf = app.csrf(&other, "/account/totp").await;
    let secret = secret_of(&uri);
    let r = other
        .post(app.url("/account/totp"))
        .form(&[
            ("csrf_token", csrf),
            ("enrolment", enrolment),
            ("code", totp_at(&secret, app.now())),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!r.text().await.unwrap().contains(&secret_b32));

    enrol_totp(&app, &browser).await;
    let stored: Vec<(String,)> = sqlx::query_as("SELECT secret_enc FROM totp_factors")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].0.to_uppercase().contains(&secret_b32[..16]));
    let (hashes,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM recovery_codes")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(hashes, 10);
}

#[tokio::test]
async fn wrong_and_replayed_codes_are_refused() {
    let app = TestApp::spawn().await;
    let (email, secret, _) = account_with_totp(&app).await;
    let browser = password_step(&app, &email).await;
    let now = app.now();
    let wrong = if totp_at(&secret, now) == "123456" {
        "654321"
    } else {
        "123456"
    };
    let r = post_code(&app, &browser, wrong).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!session_cookie_set(&r));
    // Codes two steps away are outside the ±1 drift window.
    let r = post_code(&app, &browser, &totp_at(&secret, now + 60)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let code = totp_at(&secret, now);
    assert_eq!(
        post_code(&app, &browser, &code).await.status(),
        StatusCode::SEE_OTHER
    );

    // The same code again, from another sign-in: refused, and so is the previous step's code.
    let again = password_step(&app, &email).await;
    assert_eq!(
        post_code(&app, &again, &code).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_code(&app, &again, &totp_at(&secret, now - 30))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // A code one step ahead (a clock running fast) is accepted once.
    let ahead = totp_at(&secret, now + 30);
    assert_eq!(
        post_code(&app, &again, &ahead).await.status(),
        StatusCode::SEE_OTHER
    );
    app.advance(30);
    let third = password_step(&app, &email).await;
    assert_eq!(
        post_code(&app, &third, &ahead).await.status(),
        StatusCode::UNAUTHORIZED,
        "still the same step: never twice"
    );
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let app = TestApp::spawn().await;
    let (email, _, codes) = account_with_totp(&app).await;
    let browser = password_step(&app, &email).await;
    // Typed in upper case with a space instead of the dash: still the code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let r = post_code(&app, &browser, &typed).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(signed_in(&app, &browser).await);

    let again = password_step(&app, &email).await;
    assert_eq!(
        post_code(&app, &again, &codes[3]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_code(&app, &again, &codes[4]).await.status(),
        StatusCode::SEE_OTHER
    );
    // Another account's codes are no use here.
    let (other, _, other_codes) = account_with_totp(&app).await;
    let browser = password_step(&app, &other).await;
    assert_eq!(
        post_code(&app, &browser, &codes[5]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_code(&app, &browser, &other_codes[0]).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_second_step_is_throttled_like_passwords() {
    let app = TestApp::spawn_with(|c| {
        c.login_max_failures_per_account = 5;
        c.login_lockout_seconds = 120;
    })
    .await;
    let (email, secret, _) = account_with_totp(&app).await;
    let browser = password_step(&app, &email).await;
    for _ in 0..5 {
        assert_eq!(
            post_code(&app, &browser, "000000").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked: even the right code is refused, with Retry-After.
    let r = post_code(&app, &browser, &totp_at(&secret, app.now())).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    assert!(!session_cookie_set(&r));

    // Parallel guesses get no more checks than the limit.
    app.advance(121);
    let browser = password_step(&app, &email).await;
    let csrf = app.csrf(&browser, "/login/mfa").await;
    let guesses = (0..12).map(|i| {
        let browser = browser.clone();
        let csrf = csrf.clone();
        let url = app.url("/login/mfa");
        async move {
            browser
                .post(url)
                .form(&[("csrf_token", csrf), ("code", format!("{:06}", i))])
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(checked <= 5, "{statuses:?}");

    // The lock lifts by itself.
    app.advance(121);
    let r = post_code(&app, &browser, &totp_at(&secret, app.now())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

/// `join_all` without a futures dependency: spawn each on the runtime.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<StatusCode>
where
    F: std::future::Future<Output = StatusCode> + Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn the_pending_sign_in_expires_and_is_bound_to_its_next_url() {
    let app = TestApp::spawn().await;
    let (email, secret, _) = account_with_totp(&app).await;
    let browser = app.browser();
    let csrf = app.csrf(&browser, "/login").await;
    let r = browser
        .post(app.url("/login"))
        .form(&[
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
            ("next", "/account"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/login/mfa?next=%2Faccount");
    // Another `next` than the one the password was given for: no pending sign-in.
    let csrf = app.csrf(&browser, "/login/mfa?next=%2Faccount").await;
    let r = browser
        .post(app.url("/login/mfa"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("code", &totp_at(&secret, app.now())),
            ("next", "/evil"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!session_cookie_set(&r));
    let r = post_code_next(
        &app,
        &browser,
        &totp_at(&secret, app.now()),
        Some("/account"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account");

    // Five minutes later the password step is forgotten.
    let late = password_step(&app, &email).await;
    app.advance(301);
    let r = late.get(app.url("/login/mfa")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
}

#[tokio::test]
async fn totp_is_turned_off_with_the_password() {
    let app = TestApp::spawn().await;
    let email = unique_email("off");
    let browser = app.browser();
    app.signup(&browser, &email, PASSWORD).await;
    enrol_totp(&app, &browser).await;
    let (_, html) = page(&browser, app.url("/account/totp")).await;
    assert!(html.contains("/account/totp/disable"));
    let csrf = form_value(&html, "csrf_token").unwrap();
    let r = browser
        .post(app.url("/account/totp/disable"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = browser
        .post(app.url("/account/totp/disable"))
        .form(&[("csrf_token", csrf.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The password alone signs in again.
    let fresh = app.browser();
    let r = app.login(&fresh, &email, PASSWORD).await;
    assert_eq!(location(&r), "/");
    assert!(session_cookie_set(&r));
}

#[tokio::test]
async fn an_operator_resets_the_second_factors_with_logi_user_reset_mfa() {
    let app = TestApp::spawn().await;
    let (email, _, codes) = account_with_totp(&app).await;
    let other = unique_email("keeps");
    let browser = app.browser();
    app.signup(&browser, &other, PASSWORD).await;
    enrol_totp(&app, &browser).await;

    let (ok, out) = crate::account_page::logi_user(&app, &["reset-mfa", "--email", &email]).await;
    assert!(ok, "{out}");
    assert!(out.contains("second factors removed"), "{out}");
    // The password alone signs in; the old recovery codes are gone with the rest.
    let r = app.login(&app.browser(), &email, PASSWORD).await;
    assert_eq!(location(&r), "/");
    assert!(session_cookie_set(&r));
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM recovery_codes c JOIN users u ON u.id = c.user_id WHERE u.email = $1",
    )
    .bind(&email)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((n, codes.len()), (0, 10));
    // Another account keeps its factor.
    password_step(&app, &other).await;

    let (ok, out) =
        crate::account_page::logi_user(&app, &["reset-mfa", "--email", "nobody@example.com"]).await;
    assert!(!ok && out.contains("no account"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Claims and acr_values
// ---------------------------------------------------------------------------------------------

fn confidential_rp() -> Value {
    json!({"client_type": "confidential", "grant_types": ["authorization_code", "refresh_token"],
           "scope": "openid email offline_access"})
}

/// authorize (with `extra`) → consent when asked → code; the browser must already hold a
/// session that satisfies the request.
async fn code_for(app: &TestApp, rp: &Rp, extra: &[(&str, &str)]) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let mut q = vec![
        ("scope", "openid email offline_access"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    let mut r = app.authorize(rp, &q).await;
    if r.status() == StatusCode::OK {
        r = app.decide(rp, r, "allow").await;
    }
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let params = location_params(&r);
    (params["code"].clone(), verifier)
}

async fn exchange(app: &TestApp, rp: &Rp, code: &str, verifier: &str) -> Value {
    let r = app
        .token(
            rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &rp.redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await;
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn introspect(app: &TestApp, rp: &Rp, token: &str) -> Value {
    let r = app
        .api()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    json_of(r).await.1
}

#[tokio::test]
async fn a_password_session_yields_pwd_claims() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_rp()).await;
    let (code, verifier) = code_for(&app, &rp, &[]).await;
    let tokens = exchange(&app, &rp, &code, &verifier).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["acr"], ACR_PWD);
    let access = introspect(&app, &rp, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (access["acr"].clone(), access["amr"].clone()),
        (json!(ACR_PWD), json!(["pwd"]))
    );
    let refresh = introspect(&app, &rp, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refresh["acr"], ACR_PWD);
}

#[tokio::test]
async fn acr_values_mfa_forces_enrolment_then_the_second_step_and_tokens_say_so() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_rp()).await;
    let (verifier, challenge) = pkce_pair();
    let query = [
        ("scope", "openid email offline_access"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("acr_values", ACR_MFA),
        ("state", "s1"),
    ];

    // prompt=none cannot take a second step.
    let mut silent = query.to_vec();
    silent.push(("prompt", "none"));
    let r = app.authorize(&rp, &silent).await;
    assert_eq!(location_params(&r)["error"], "interaction_required");

    // The password session is sent to the second step, which (no factor yet) sends it to
    // enrolment; confirming the enrolment counts as the second factor.
    let r = app.authorize(&rp, &query).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let step = location(&r);
    assert!(step.starts_with("/login/mfa?next="), "{step}");
    let r = rp.user.get(app.url(&step)).send().await.unwrap();
    let enrol = location(&r);
    assert!(enrol.starts_with("/account/totp?next="), "{enrol}");
    app.advance(5);
    let (_, html) = page(&rp.user, app.url(&enrol)).await;
    let secret = secret_of(&element_text(&html, "data-otpauth-uri").unwrap());
    let r = rp
        .user
        .post(app.url("/account/totp"))
        .form(&[
            ("csrf_token", form_value(&html, "csrf_token").unwrap()),
            ("enrolment", form_value(&html, "enrolment").unwrap()),
            ("next", form_value(&html, "next").unwrap()),
            ("code", totp_at(&secret, app.now())),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(session_cookie_set(&r), "the session moves to a new id");
    let enrolled_at = app.now();
    let html = r.text().await.unwrap();
    let back = attribute_values(&html, "href")
        .into_iter()
        .find(|h| h.starts_with("/oauth/authorize"))
        .expect("a link back to the authorization request");
    let mut r = rp.user.get(app.url(&back)).send().await.unwrap();
    if r.status() == StatusCode::OK {
        r = app.decide(&rp, r, "allow").await;
    }
    let params = location_params(&r);
    assert_eq!(params["state"], "s1");
    let tokens = exchange(&app, &rp, &params["code"], &verifier).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], ACR_MFA);
    assert_eq!(
        id["auth_time"], enrolled_at,
        "auth_time is the latest factor's"
    );
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(access)["acr"], ACR_MFA);
    let intro = introspect(&app, &rp, access).await;
    assert_eq!(intro["amr"], json!(["pwd", "otp", "mfa"]));
    let intro = introspect(&app, &rp, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (intro["acr"].clone(), intro["auth_time"].clone()),
        (json!(ACR_MFA), json!(enrolled_at))
    );

    // Later, a fresh password session of the same account meets acr_values only after the
    // code; without acr_values the password session's tokens say pwd.
    app.advance(60);
    let browser = app.browser();
    let csrf = app.csrf(&browser, "/login").await;
    let r = browser
        .post(app.url("/login"))
        .form(&[
            ("email", rp.user_email.as_str()),
            ("password", PASSWORD),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/login/mfa", "the account has a factor now");
    let r = post_code(&app, &browser, &totp_at(&secret, app.now())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let rp2 = Rp {
        user: browser,
        ..rp
    };
    let (code, verifier) = code_for(&app, &rp2, &[("acr_values", ACR_MFA)]).await;
    let tokens = exchange(&app, &rp2, &code, &verifier).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], ACR_MFA);
    assert_eq!(id["auth_time"], app.now());
}

#[tokio::test]
async fn a_password_session_with_a_factor_steps_up_for_acr_values() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_rp()).await;
    // The factor is enrolled by another session; this one keeps its password-only amr.
    let other = app.browser();
    app.login(&other, &rp.user_email, PASSWORD).await;
    let (secret, _) = enrol_totp(&app, &other).await;
    app.advance(30);

    let (code, verifier) = code_for(&app, &rp, &[]).await;
    let id = jwt_claims(
        exchange(&app, &rp, &code, &verifier).await["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(id["acr"], ACR_PWD, "no acr_values: the session as it is");

    let (verifier, challenge) = pkce_pair();
    let r = app
        .authorize(
            &rp,
            &[
                ("scope", "openid email offline_access"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("acr_values", &format!("{ACR_MFA} urn:example:unknown")),
            ],
        )
        .await;
    let step = location(&r);
    assert!(step.starts_with("/login/mfa?next="), "{step}");
    let next = reqwest::Url::parse(&app.url(&step))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "next")
        .unwrap()
        .1
        .into_owned();
    let r = post_code_next(&app, &rp.user, "000000", Some(&next)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = post_code_next(&app, &rp.user, &totp_at(&secret, app.now()), Some(&next)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        session_cookie_set(&r),
        "the stepped-up session has a new id"
    );
    let mut r = rp.user.get(app.url(&location(&r))).send().await.unwrap();
    if r.status() == StatusCode::OK {
        r = app.decide(&rp, r, "allow").await;
    }
    let code = location_params(&r)["code"].clone();
    let id = jwt_claims(
        exchange(&app, &rp, &code, &verifier).await["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], ACR_MFA);
}

#[tokio::test]
async fn discovery_advertises_acr_values_and_the_claims() {
    let app = TestApp::spawn().await;
    let r = app
        .api()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    let (_, doc) = json_of(r).await;
    assert_eq!(doc["acr_values_supported"], json!([ACR_PWD, ACR_MFA]));
    let claims = doc["claims_supported"].as_array().unwrap();
    assert!(claims.contains(&json!("amr")) && claims.contains(&json!("acr")));
}

// ---------------------------------------------------------------------------------------------
// Passkey endpoints without a browser (the ceremonies run in tests/browser)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn passkey_calls_need_the_page_csrf_token_and_an_issuer_with_a_domain() {
    // The suite's issuer is http://127.0.0.1:port: browsers refuse IP addresses as WebAuthn
    // relying party ids, so logi offers no passkeys there.
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let (_, login) = page(&browser, app.url("/login")).await;
    assert!(!login.contains("passkey-login"));
    let csrf = form_value(&login, "csrf_token").unwrap();
    let r = browser
        .post(app.url("/login/passkey/start"))
        .json(&json!({ "csrf_token": "forged" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = browser
        .post(app.url("/login/passkey/start"))
        .json(&json!({ "csrf_token": csrf }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = browser
        .post(app.url("/login/passkey/start"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // On a domain issuer the login page offers a passkey, and the start call answers
    // WebAuthn options with a sealed state (no database row).
    let app = app
        .spawn_sibling(|c| c.issuer = "http://localhost:8080".into())
        .await;
    let browser = app.browser();
    let (_, login) = page(&browser, app.url("/login")).await;
    assert!(login.contains("data-action=\"passkey-login\""), "{login}");
    assert!(login.contains("<script src=\"/assets/passkeys.js\""));
    let csrf = form_value(&login, "csrf_token").unwrap();
    let r = browser
        .post(app.url("/login/passkey/start"))
        .json(&json!({ "csrf_token": csrf }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["options"]["publicKey"]["rpId"], "localhost");
    assert_eq!(body["options"]["publicKey"]["userVerification"], "required");
    assert!(body["options"].get("mediation").is_none());
    // A finish with a made-up credential is refused, and its state is spent.
    let finish = json!({
        "csrf_token": csrf,
        "state": body["state"],
        "credential": {"id": "AA", "rawId": "AA", "type": "public-key",
            "response": {"clientDataJSON": "AA", "authenticatorData": "AA", "signature": "AA", "userHandle": null},
            "extensions": {}},
    });
    for expected in [StatusCode::UNAUTHORIZED, StatusCode::BAD_REQUEST] {
        let r = browser
            .post(app.url("/login/passkey/finish"))
            .json(&finish)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected);
    }
    let script = browser
        .get(app.url("/assets/passkeys.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        script.headers()[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
}

#[tokio::test]
async fn pages_allow_only_logi_s_own_script() {
    let app = TestApp::spawn().await;
    let r = app.browser().get(app.url("/login")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

#[tokio::test]
async fn developer_tokens_of_an_account_with_a_factor_need_the_code_too() {
    let app = TestApp::spawn().await;
    let (email, secret, codes) = account_with_totp(&app).await;
    let mint = |code: Option<String>| {
        let mut body = json!({ "email": email, "password": PASSWORD, "name": "ci" });
        if let Some(code) = code {
            body["code"] = json!(code);
        }
        app.api()
            .post(app.url("/developer/tokens"))
            .json(&body)
            .send()
    };
    let (status, body) = json_of(mint(None).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().unwrap().contains("code"));
    let (status, _) = json_of(mint(Some("000000".into())).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = json_of(mint(Some(totp_at(&secret, app.now()))).await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = json_of(mint(Some(codes[0].clone())).await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = json_of(mint(Some(codes[0].clone())).await.unwrap()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a recovery code works once here too"
    );
}
