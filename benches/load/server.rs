//! The `logi serve` child process: building it, starting it on a free port, reading its CPU and
//! memory from `/proc`, and the per-run PostgreSQL database.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use hyper::StatusCode;
use sqlx::Connection;

use crate::http::{bodyless, tail, Conn, Target};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `$CARGO build --release --bin logi`; returns the path of the binary.
pub(crate) fn build_server() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("building: {cargo} build --release --bin logi");
    let status = Command::new(&cargo)
        .args(["build", "--release", "--bin", "logi"])
        .current_dir(manifest_dir)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(
        status.success(),
        "`{cargo} build --release --bin logi` failed ({status})"
    );
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => manifest_dir.join(dir),
        None => manifest_dir.join("target"),
    };
    let bin = target_dir.join("release").join("logi");
    assert!(
        bin.is_file(),
        "the release build did not produce {}",
        bin.display()
    );
    bin
}

pub(crate) struct Server {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
}

impl Server {
    pub(crate) fn start(bin: &Path, dir: &Path, database_url: &str) -> Server {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = dir.join("server.log");
        let log_file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let child = Command::new(bin)
            .arg("serve")
            .current_dir(dir)
            .env("LOGI_BIND", addr.to_string())
            .env("LOGI_ISSUER", format!("http://{addr}"))
            .env("LOGI_DATABASE_URL", database_url)
            .env("LOGI_DATA_DIR", dir)
            .env(
                "LOGI_MASTER_KEY",
                STANDARD.encode(logi::crypto::random_bytes(32)),
            )
            .env("LOGI_LOG", "warn")
            .env("LOGI_LOGIN_MAX_FAILURES_PER_IP", "1000000")
            // The TOTP scenario signs up hundreds of accounts from 127.0.0.1.
            .env("LOGI_SIGNUP_MAX_PER_IP_PER_HOUR", "0")
            .env("LOGI_KEY_ROTATION_PERIOD_SECONDS", "0")
            .env_remove("LOGI_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Server {
            pid: child.id(),
            child,
            addr,
            dir: dir.to_path_buf(),
            log,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `GET /readyz`; panics (the guard stops the child) when the server dies or is late.
    pub(crate) async fn wait_ready(&mut self, target: &Target) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "logi exited during start-up ({status}); its log:\n{}",
                    self.log_text()
                );
            }
            let mut conn = Conn::new(target.addr);
            if let Ok(reply) = conn.send(bodyless(target.get("/readyz"))).await {
                if reply.status == StatusCode::OK {
                    println!("ready after {:.1} s", start.elapsed().as_secs_f64());
                    return;
                }
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "logi not ready after {READY_TIMEOUT:?}; its log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl crate::scenarios::Observed for Server {
    fn pids(&self) -> Vec<u32> {
        vec![self.pid]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = self.log_text();
        if !log.trim().is_empty() {
            println!("server log (warnings and errors):\n{}", tail(&log, 4000));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free port on 127.0.0.1")
}

/// User + system CPU seconds of `pid` (`/proc/<pid>/stat`, fields 14 and 15, in clock ticks
/// of 1/100 s: USER_HZ is 100 on every Linux architecture this runs on).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// `/proc/loadavg`'s 1, 5 and 15 minute load averages.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// Resident set size of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// Databases

/// A fresh PostgreSQL database, dropped (with its connections) when this guard goes.
pub(crate) struct PgDatabase {
    admin_url: String,
    name: String,
    pub(crate) url: String,
    pub(crate) version: String,
}

impl PgDatabase {
    /// Creates `name` (dropping a leftover of that name first) on the server of `admin_url`.
    pub(crate) async fn create(admin_url: &str, name: &str) -> Result<PgDatabase, String> {
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::AnyConnection::connect(admin_url),
        )
        .await
        .map_err(|_| "connection timed out".to_string())?
        .map_err(|e| e.to_string())?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("SHOW server_version: {e}"))?;
        let name = name.to_string();
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(&sql)
                .execute(&mut conn)
                .await
                .map_err(|e| format!("{sql}: {e}"))?;
        }
        let _ = conn.close().await;
        Ok(PgDatabase {
            admin_url: admin_url.to_string(),
            url: crate::helpers::with_database(admin_url, &name),
            name,
            version,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the generator's runtime: use a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let mut conn = sqlx::AnyConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&sql)
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<(), String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop database {}: thread panicked", self.name),
        }
    }
}

/// The SQLite library version linked by sqlx, which is the one the server uses.
pub(crate) async fn sqlite_version() -> String {
    let version = async {
        let mut conn = sqlx::AnyConnection::connect("sqlite::memory:").await?;
        sqlx::query_scalar::<_, String>("SELECT sqlite_version()")
            .fetch_one(&mut conn)
            .await
    };
    version.await.unwrap_or_else(|e| format!("(unknown: {e})"))
}
