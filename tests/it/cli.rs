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
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("there is no database at"),
        "the database made by migrate is used"
    );
    assert!(dir.join("data/master.key").exists(), "generated master key");
    let again = logi(&dir)
        .args(["user", "create", "--email", "admin@example.com"])
        .env("LOGI_USER_PASSWORD", "a long enough password")
        .output()
        .unwrap();
    assert!(!again.status.success(), "duplicate email refused");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(
        stderr.matches("already exists").count(),
        1,
        "the error is printed once: {stderr}"
    );
    assert!(!stderr.contains("there is no database"), "{stderr}");
    let help = logi(&dir)
        .args(["user", "create", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("The account's email address"));
    // Run in a folder without a database, it says that it is making a new one.
    let elsewhere = temp_dir("elsewhere");
    let out = logi(&elsewhere)
        .args(["user", "create", "--email", "admin@example.com"])
        .env("LOGI_USER_PASSWORD", "a long enough password")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("there is no database at"),
        "a new database is announced"
    );
    let _ = std::fs::remove_dir_all(elsewhere);
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

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The data folder, the SQLite files (with the `-wal` and `-shm` of a running server) and the
/// generated master key are private to logi's user, whatever the umask.
#[cfg(unix)]
#[test]
fn the_database_files_and_the_master_key_are_private() {
    let dir = temp_dir("modes");
    let out = logi(&dir).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&dir.join("data")), 0o700, "data dir");
    assert_eq!(mode(&dir.join("data/logi.db")), 0o600, "logi.db");

    // A running server: its WAL files exist while it runs; the master key is generated.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = logi(&dir)
        .arg("serve")
        .env("LOGI_BIND", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        #[allow(clippy::disallowed_methods)] // waiting for another process to listen
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let files: Vec<_> = ["logi.db", "logi.db-wal", "logi.db-shm", "master.key"]
        .iter()
        .map(|f| dir.join("data").join(f))
        .map(|p| (p.exists().then(|| mode(&p)), p))
        .collect();
    let _ = server.kill();
    let _ = server.wait();
    assert!(up, "logi serve started");
    for (m, p) in files {
        assert_eq!(m, Some(0o600), "{}", p.display());
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A lost `master.key` beside a database that holds signing keys: logi refuses to start and
/// does not generate a new key; a wrong configured key is refused the same way.
#[test]
fn logi_refuses_to_start_when_the_master_key_cannot_decrypt_the_stored_keys() {
    let dir = temp_dir("lostkey");
    let first = logi(&dir).args(["keys", "list"]).output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let key_file = dir.join("data/master.key");
    assert!(key_file.exists());
    std::fs::remove_file(&key_file).unwrap();

    let again = logi(&dir).args(["keys", "list"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "started without its master key");
    assert!(
        stderr.contains("master.key") && stderr.contains("does not exist"),
        "the message names the problem: {stderr}"
    );
    assert!(!key_file.exists(), "no new master key beside existing keys");

    // Another key, configured: refused too, and nothing is written.
    let other = logi::crypto::random_token(32);
    let wrong = logi(&dir)
        .args(["keys", "list"])
        .env("LOGI_MASTER_KEY", &other)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success(), "started with a wrong master key");
    assert!(
        stderr.contains("cannot decrypt"),
        "the message names the problem: {stderr}"
    );
    assert!(!key_file.exists());
    let _ = std::fs::remove_dir_all(dir);
}
