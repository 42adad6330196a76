//! The branding hook (`brand_name`, `brand_logo_path`, `brand_accent`) over real HTTP: what the
//! pages show and link, the assets logi serves for it, the unchanged defaults, and the settings
//! that stop logi at start.

use crate::common::TestApp;
use base64::{engine::general_purpose::STANDARD, Engine};
use logi::config::Config;
use reqwest::StatusCode;

/// A real 1×1 PNG.
fn png() -> Vec<u8> {
    STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
        .unwrap()
}

const SVG: &str = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
                   viewBox=\"0 0 120 32\"><rect width=\"120\" height=\"32\" fill=\"#0a7d32\"/></svg>\n";

/// A file in a fresh temporary folder.
fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "logi-brand-{}",
        logi::crypto::random_token(6).replace(['-', '_'], "x")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

async fn page(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, String) {
    let r = app.browser().get(app.url(path)).send().await.unwrap();
    let headers = r.headers().clone();
    (headers, r.text().await.unwrap())
}

/// The value of `attr="…"` in the first tag that contains `marker`.
fn attr_after<'a>(html: &'a str, marker: &str, attr: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let rest = &html[at..];
    let start = rest.find(&format!("{attr}=\"")).unwrap() + attr.len() + 2;
    let len = rest[start..].find('"').unwrap();
    &rest[start..start + len]
}

#[tokio::test]
async fn without_brand_settings_pages_are_as_before() {
    let app = TestApp::spawn().await;
    let (_, login) = page(&app, "/login").await;
    // The head and header exactly as logi has always rendered them: no brand.css link.
    assert!(
        login.starts_with(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>Sign in · logi</title>\n<link rel=\"stylesheet\" href=\"/assets/logi.css\">\n\
             <link rel=\"icon\" href=\"/favicon.ico\" sizes=\"32x32\">\n</head>\n<body>\n\
             <main class=\"card\">\n<header class=\"brand\"><a href=\"/\">logi</a></header>\n"
        ),
        "{login}"
    );
    assert!(!login.contains("brand.css") && !login.contains("brand-logo"));
    let (_, missing) = page(&app, "/no-such-page").await;
    assert!(missing.contains("<header class=\"brand\"><a href=\"/\">logi</a></header>"));
    for asset in ["/assets/brand.css", "/assets/brand-logo"] {
        let r = app.api().get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{asset}");
    }
}

#[tokio::test]
async fn name_logo_and_accent_reach_every_page() {
    let logo = png();
    let logo_path = temp_file("logo.png", &logo);
    let app = TestApp::spawn_with(|c| {
        c.brand_name = "Acme & Notes".into();
        c.brand_logo_path = logo_path.display().to_string();
        c.brand_accent = "#0A7D32".into();
    })
    .await;
    for path in ["/login", "/signup", "/forgot-password", "/no-such-page"] {
        let (headers, html) = page(&app, path).await;
        assert!(
            html.contains(" · Acme &amp; Notes</title>"),
            "{path}: title suffix: {html}"
        );
        assert!(
            html.contains("<header class=\"brand\"><a href=\"/\"><img src=\"/assets/brand-logo?v="),
            "{path}: logo in the header: {html}"
        );
        assert_eq!(
            attr_after(&html, "<img", "alt"),
            "Acme &amp; Notes",
            "{path}"
        );
        assert!(
            html.contains(
                "<link rel=\"stylesheet\" href=\"/assets/logi.css\">\n\
                 <link rel=\"stylesheet\" href=\"/assets/brand.css?v="
            ),
            "{path}: brand.css right after logi.css: {html}"
        );
        assert!(!html.contains("style="), "{path}: no inline style");
        // The CSP is unchanged: both assets are same-origin.
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("img-src 'self'") && csp.contains("style-src 'self'"),
            "{csp}"
        );
    }
    let (_, login) = page(&app, "/login").await;
    assert!(login.contains("<title>Sign in · Acme &amp; Notes</title>"));

    // The logo, as linked: its bytes, its type, a long cache.
    let r = app
        .api()
        .get(app.url(attr_after(&login, "<img", "src")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), logo.as_slice());

    // The stylesheet, as linked: the light scheme's accent, its hover shade, links and focus.
    let href = attr_after(
        &login,
        "<link rel=\"stylesheet\" href=\"/assets/brand.css",
        "href",
    )
    .to_string();
    let r = app.api().get(app.url(&href)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let css = r.text().await.unwrap();
    assert!(
        css.contains(
            "@media not all and (prefers-color-scheme: dark) { :root { --accent: #0a7d32; \
             --accent-hover: #086428; --link: #0a7d32; --focus: #0a7d32; } }"
        ),
        "{css}"
    );
}

#[tokio::test]
async fn a_name_alone_is_text_and_an_svg_logo_is_served_sandboxed() {
    let app = TestApp::spawn_with(|c| c.brand_name = "Acme".into()).await;
    let (_, html) = page(&app, "/login").await;
    assert!(html.contains("<title>Sign in · Acme</title>"), "{html}");
    assert!(html.contains("<header class=\"brand\"><a href=\"/\">Acme</a></header>"));
    assert!(
        !html.contains("brand.css") && !html.contains("<img"),
        "{html}"
    );

    let svg_path = temp_file("logo.svg", SVG.as_bytes());
    let app = TestApp::spawn_with(|c| c.brand_logo_path = svg_path.display().to_string()).await;
    let (_, html) = page(&app, "/login").await;
    assert_eq!(attr_after(&html, "<img", "alt"), "logi");
    let r = app
        .api()
        .get(app.url(attr_after(&html, "<img", "src")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    // Opened directly, the SVG runs no script in logi's origin.
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(r.text().await.unwrap(), SVG);
}

/// A change to a configuration.
type Tweak = Box<dyn Fn(&mut Config)>;

/// Each bad brand setting: `Config::validate` (what `logi` runs at start) and `server::prepare`
/// both refuse it, naming the key and the reason.
#[tokio::test]
async fn invalid_brand_settings_stop_logi() {
    let mut oversized = b"\x89PNG\r\n\x1a\n".to_vec();
    oversized.resize(100 * 1024 + 1, 0);
    let big = temp_file("big.png", &oversized);
    let mut just_fits = b"\x89PNG\r\n\x1a\n".to_vec();
    just_fits.resize(100 * 1024, 0);
    let fits = temp_file("fits.png", &just_fits);
    let gif = temp_file("logo.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;");
    let folder = gif.parent().unwrap().to_path_buf();
    let missing = folder.join("no-such-logo.png");
    let cases: Vec<(&str, Tweak, &str)> = vec![
        (
            "brand_accent",
            Box::new(|c| c.brand_accent = "teal".into()),
            "not a colour like #2456d6",
        ),
        (
            "brand_accent",
            Box::new(|c| c.brand_accent = "#2456d".into()),
            "not a colour",
        ),
        (
            "brand_accent",
            // logi's own dark-scheme accent: 2.13:1 on white.
            Box::new(|c| c.brand_accent = "#8fb0ff".into()),
            "contrast of 2.13:1 against white",
        ),
        (
            "brand_accent",
            Box::new(|c| c.brand_accent = "#777777".into()),
            "at least 4.5:1",
        ),
        (
            "brand_logo_path",
            Box::new(move |c| c.brand_logo_path = missing.display().to_string()),
            "cannot read",
        ),
        (
            "brand_logo_path",
            Box::new(move |c| c.brand_logo_path = big.display().to_string()),
            "at most 102400 bytes",
        ),
        (
            "brand_logo_path",
            Box::new(move |c| c.brand_logo_path = gif.display().to_string()),
            "neither a PNG nor an SVG",
        ),
        (
            "brand_logo_path",
            Box::new(move |c| c.brand_logo_path = folder.display().to_string()),
            "is not a file",
        ),
        (
            "brand_name",
            Box::new(|c| c.brand_name = "  ".into()),
            "must not be empty",
        ),
        (
            "brand_name",
            Box::new(|c| c.brand_name = "Acme\u{7}".into()),
            "control characters",
        ),
    ];
    let db_dir = temp_file("unused", b"").parent().unwrap().to_path_buf();
    for (key, tweak, reason) in cases {
        let mut config = Config {
            database_url: format!("sqlite://{}", db_dir.join("logi.db").display()),
            data_dir: db_dir.clone(),
            ..Config::default()
        };
        tweak(&mut config);
        let e = config.validate().expect_err(key).to_string();
        assert!(
            e.contains(&format!("configuration key `{key}`")) && e.contains(reason),
            "{key}: {e}"
        );
        let e = match logi::server::prepare(config).await {
            Ok(_) => panic!("{key}: prepare accepted it"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(key) && e.contains(reason), "{key}: {e}");
    }
    // The limits are inclusive: exactly 100 KiB, and exactly 4.5:1, are fine.
    let config = Config {
        brand_logo_path: fits.display().to_string(),
        brand_accent: "#767676".into(),
        ..Config::default()
    };
    config.validate().expect("100 KiB and 4.54:1 pass");
}

/// The binary: a bad brand setting is a configuration error (exit code 2, the key named).
#[test]
fn the_binary_refuses_to_start_with_exit_code_2() {
    let dir = temp_file("unused", b"").parent().unwrap().to_path_buf();
    for (var, value, expected) in [
        ("LOGI_BRAND_ACCENT", "#8fb0ff", "brand_accent"),
        (
            "LOGI_BRAND_LOGO_PATH",
            "/no/such/logo.svg",
            "brand_logo_path",
        ),
    ] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_logi"));
        for (k, _) in std::env::vars() {
            if k.starts_with("LOGI_") {
                command.env_remove(k);
            }
        }
        let out = command
            .current_dir(&dir)
            .arg("serve")
            .env(var, value)
            .env("LOGI_BIND", "127.0.0.1:0")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!dir.join("data").exists(), "stopped before touching ./data");
    }
}
