//! `/device`: where a person enters the code their device shows, signs in and consents
//! (RFC 8628 §3.3).

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Router,
};
use minijinja::context;

use super::{
    error::PageError,
    extract::{ClientIp, Params},
    forms::{CsrfForm, CurrentUser},
    pages::{html, render, Csrf},
    AppState,
};
use crate::{
    oauth::{audience, grants::device_code, scope},
    store,
};

/// Wrong codes entered from one address before it is locked out for a while (brute force).
const MAX_WRONG_CODES: i64 = 20;

pub fn router() -> Router<AppState> {
    Router::new().route("/device", get(entry).post(submit))
}

fn login_redirect(user_code: Option<&str>) -> Response {
    let mut next = String::from("/device");
    if let Some(code) = user_code {
        next.push_str("?user_code=");
        next.push_str(&url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>());
    }
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", &next)
        .finish();
    Redirect::to(&format!("/login?{q}")).into_response()
}

fn entry_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    user_code: &str,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let csrf = Csrf::for_request(state, headers);
    let body = render(
        "device.html",
        context! { csrf_token => &csrf.token, user_code, error },
    )?;
    Ok(csrf.apply(html(status, body)))
}

async fn entry(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    current: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let params = Params::parse(uri.query().unwrap_or_default().as_bytes()).unwrap_or_default();
    let user_code = params.get("user_code").unwrap_or_default();
    if current.is_none() {
        return Ok(login_redirect(params.get("user_code")));
    }
    entry_page(&state, &headers, StatusCode::OK, user_code, None)
}

async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let typed = params.get("user_code").unwrap_or_default();
    let Some(CurrentUser { session, user, .. }) = current else {
        return Ok(login_redirect(Some(typed)));
    };
    let t = state.clock.now();
    // Reserve the attempt before looking the code up (atomic in the database, so parallel
    // guesses cannot pass the limit); a valid code gives it back.
    let throttle_key = format!("device:{ip}");
    let window = state.config.login_lockout_seconds as i64;
    let reservation =
        match store::throttle::reserve(&state.store, &throttle_key, t, MAX_WRONG_CODES, window)
            .await?
        {
            Ok(r) => r,
            Err(retry_after) => {
                let mut r = entry_page(
                    &state,
                    &headers,
                    StatusCode::TOO_MANY_REQUESTS,
                    typed,
                    Some("Too many wrong codes. Try again later."),
                )?;
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                return Ok(r);
            }
        };
    let found = match device_code::normalize_user_code(typed) {
        Some(code) => store::device::pending_by_user_code(&state.store, &code, t).await?,
        None => None,
    };
    let Some(request) = found else {
        return entry_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            typed,
            Some("That code is not valid or has expired. Check your device."),
        );
    };
    store::throttle::release(&state.store, &throttle_key, reservation).await?;
    let Some(app) = store::applications::by_id(&state.store, &request.application_id).await? else {
        return entry_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            typed,
            Some("That code is not valid or has expired."),
        );
    };
    let shown_code = device_code::display_user_code(&request.user_code);
    let (status, title, message) = match params.get("decision") {
        None => {
            let csrf = Csrf::for_request(&state, &headers);
            let scopes = scope::parse(&request.scope).unwrap_or_default();
            let resources: Vec<String> = request
                .resources
                .split(' ')
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect();
            let apis = store::apis::for_owner(&state.store, &app.owner_id).await?;
            let words = audience::consent_words(&apis, &resources, &scopes);
            let body = render(
                "consent.html",
                context! {
                    client_name => &app.client_name,
                    scopes => words.scopes,
                    apis => words.apis,
                    email => &user.email,
                    user_code => &shown_code,
                    csrf_token => &csrf.token,
                    action => "/device",
                    hidden => vec![("user_code", shown_code.clone())],
                },
            )?;
            return Ok(csrf.apply(html(StatusCode::OK, body)));
        }
        Some("allow") => (
            store::device::APPROVED,
            "Device connected",
            "You can close this page and return to your device.",
        ),
        Some("deny") => (
            store::device::DENIED,
            "Request denied",
            "The device was not given access. You can close this page.",
        ),
        Some(_) => return Err(PageError::bad_request("decision must be allow or deny")),
    };
    if !store::device::decide(&state.store, &request.user_code, status, &session, t).await? {
        return entry_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            typed,
            Some("That code was already used or has expired."),
        );
    }
    tracing::info!(target: "logi::security", user_id = %user.id, client_id = %app.client_id, decision = status, "device authorization answered");
    let body = render("message.html", context! { title, message })?;
    Ok(html(StatusCode::OK, body))
}
