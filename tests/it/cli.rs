//! The `logi` binary: subcommands and configuration errors.
use std::process::Command;

fn logi(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_logi"));
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("LOGI_") {
            c.env_remove(k);
        }
    }
    c
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("logi-cli-{tag}-{}", logi::crypto::random_token(6)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn help_lists_the_subcommands() {
    let out = logi(&temp_dir("help")).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "migrate", "user"] {
        assert!(text.contains(sub), "{text}");
    }
}

#[test]
fn an_invalid_value_names_its_key() {
    let dir = temp_dir("badcfg");
    for (var, value, key) in [
        ("LOGI_BIND", "not-an-address", "bind"),
        (
            "LOGI_ACCESS_TOKEN_TTL_SECONDS",
            "ten",
            "access_token_ttl_seconds",
        ),
        ("LOGI_ISSUER", "ftp://x", "issuer"),
        ("LOGI_DATABASE_URL", "mysql://x", "database_url"),
        (
            "LOGI_DEVICE_CODE_TTL_SECONDS",
            "0",
            "device_code_ttl_seconds",
        ),
    ] {
        let out = logi(&dir).arg("migrate").env(var, value).output().unwrap();
        assert!(!out.status.success(), "{var}={value} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.to_lowercase().contains(key), "{var}: {err}");
    }
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "session_ttl_seconds = -5\n").unwrap();
    let out = logi(&dir)
        .arg("migrate")
        .env("LOGI_CONFIG", &cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("session_ttl_seconds"));
}

#[test]
fn migrate_and_user_create_on_sqlite() {
    let dir = temp_dir("migrate");
    let out = logi(&dir).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.join("data/logi.db").exists(),
        "SQLite under ./data by default"
    );
    let out = logi(&dir)
        .args([
            "user",
            "create",
            "--email",
            "Admin@Example.com",
            "--name",
            "Admin",
        ])
        .env("LOGI_USER_PASSWORD", "a long enough password")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usr_"));
    assert!(dir.join("data/master.key").exists(), "generated master key");
    let again = logi(&dir)
        .args(["user", "create", "--email", "admin@example.com"])
        .env("LOGI_USER_PASSWORD", "a long enough password")
        .output()
        .unwrap();
    assert!(!again.status.success(), "duplicate email refused");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn configuration_warnings_reach_the_log() {
    let dir = temp_dir("warnings");
    let out = logi(&dir)
        .arg("migrate")
        .env("LOGI_ISSUER", "http://login.example.com")
        .env("LOGI_KEY_ACTIVATION_DELAY_SECONDS", "10")
        .env("LOGI_JWKS_MAX_AGE_SECONDS", "300")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("is plain http"), "{stderr}");
    assert!(
        stderr.contains("key_activation_delay_seconds is shorter"),
        "{stderr}"
    );
    let quiet = logi(&dir).arg("migrate").output().unwrap();
    assert!(
        !String::from_utf8_lossy(&quiet.stderr).contains("WARN"),
        "no warning for the defaults"
    );
    let _ = std::fs::remove_dir_all(dir);
}
