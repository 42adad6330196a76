//! The peer: node-oidc-provider (`benches/oidc-provider/`: a pinned version from npm and
//! `server.mjs`), started on a free loopback port with its cluster workers, and driven by the
//! same requests as logi for `client_credentials`, rotating refresh and the authorization-code
//! flow with a session and remembered consent.
//!
//! Its state lives in the memory of one worker, and a keep-alive connection stays on the
//! worker that accepted it: so each connection signs in, consents and starts its refresh chain
//! over itself ([`Subject::setup`]) before the clock starts, and then runs the scenario.

use std::{
    fs::File,
    io::Read,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use hyper::{header, Request, StatusCode};
use serde_json::Value;

use crate::{
    fixture::{pkce_pair, REDIRECT_URI},
    http::{bodyless, form, tail, Body, Conn, Reply, Target},
    scenarios::{client_credentials, refresh, Observed, Own, Subject},
};

/// Where `package.json`, `package-lock.json` and `server.mjs` are, from the crate root.
const PEER_DIR: &str = "benches/oidc-provider";
/// The cluster workers `server.mjs` forks (2, as in the measurement of issue 16).
pub(crate) const PEER_WORKERS: usize = 2;
const CLIENT_ID: &str = "bench";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The process

/// The peer's primary process (its workers are its children, in its process group). Dropping
/// it stops all of them, also when the benchmark panics.
pub(crate) struct PeerServer {
    child: Child,
    /// The primary exits (and stops its workers) when this pipe closes.
    stdin: Option<ChildStdin>,
    pub(crate) pid: u32,
    pub(crate) addr: SocketAddr,
    workers: Vec<u32>,
    dir: PathBuf,
    log: PathBuf,
    client_secret: String,
    /// `node-oidc-provider <version>`.
    pub(crate) name: String,
    /// `node --version`.
    pub(crate) node: String,
}

impl PeerServer {
    /// Installs the pinned packages when `node_modules` is missing (`npm ci`) and starts
    /// `node server.mjs`; `Err` says why the peer cannot run here (no node, no npm, ...).
    pub(crate) fn start(dir: &Path) -> Result<PeerServer, String> {
        let node = Command::new("node")
            .arg("--version")
            .output()
            .map_err(|e| format!("`node` cannot be run ({e})"))?;
        let node = String::from_utf8_lossy(&node.stdout).trim().to_string();
        let package_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(PEER_DIR);
        let installed = package_dir.join("node_modules/oidc-provider/package.json");
        if !installed.is_file() {
            println!("peer: npm ci in {}", package_dir.display());
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&package_dir)
                .status()
                .map_err(|e| format!("`npm` cannot be run ({e})"))?;
            if !status.success() {
                return Err(format!("`npm ci` in {PEER_DIR} failed ({status})"));
            }
        }
        let package: Value = std::fs::read_to_string(&installed)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .ok_or_else(|| format!("cannot read {}", installed.display()))?;
        let version = package["version"].as_str().unwrap_or("(unknown version)");

        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let log = dir.join("peer.log");
        let out = File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
        drop(listener);
        let client_secret = logi::crypto::random_token(32);
        let mut child = {
            use std::os::unix::process::CommandExt;
            Command::new("node")
                .arg("server.mjs")
                .current_dir(&package_dir)
                .env("PORT", addr.port().to_string())
                .env("CLIENT_SECRET", &client_secret)
                .env("NODE_ENV", "production")
                // Its own process group: the workers are stopped with it, by this group's id.
                .process_group(0)
                .stdin(Stdio::piped())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("cannot start node server.mjs: {e}"))?
        };
        Ok(PeerServer {
            pid: child.id(),
            stdin: child.stdin.take(),
            child,
            addr,
            workers: Vec::new(),
            dir: dir.to_path_buf(),
            log,
            client_secret,
            name: format!("node-oidc-provider {version}"),
            node,
        })
    }

    fn log_text(&self) -> String {
        let mut text = String::new();
        let _ = File::open(&self.log).and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    /// Waits until every worker listens (the primary says so) and discovery answers.
    pub(crate) async fn wait_ready(&mut self, target: &Target) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "node server.mjs exited during start-up ({status}): {}",
                    tail(&self.log_text(), 2000)
                ));
            }
            if self.log_text().contains("ready:") {
                let mut conn = Conn::new(target.addr);
                let discovery = bodyless(target.get("/.well-known/openid-configuration"));
                if let Ok(reply) = conn.send(discovery).await {
                    if reply.status == StatusCode::OK {
                        self.workers = children_of(self.pid);
                        println!(
                            "peer ready after {:.1} s: primary {} and workers {:?}",
                            start.elapsed().as_secs_f64(),
                            self.pid,
                            self.workers
                        );
                        return Ok(());
                    }
                }
            }
            if start.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "not ready after {READY_TIMEOUT:?}: {}",
                    tail(&self.log_text(), 2000)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The subject the scenarios drive.
    pub(crate) fn subject(&self, target: Arc<Target>) -> Peer {
        Peer {
            target,
            basic: format!(
                "Basic {}",
                STANDARD.encode(format!("{CLIENT_ID}:{}", self.client_secret))
            ),
        }
    }
}

impl Observed for PeerServer {
    /// The primary and its workers: the CPU of the whole server.
    fn pids(&self) -> Vec<u32> {
        std::iter::once(self.pid)
            .chain(self.workers.iter().copied())
            .collect()
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        // Closing its stdin stops the primary, which stops its workers; the group kill makes
        // sure, also of a primary that hangs.
        drop(self.stdin.take());
        if let Ok(group) = i32::try_from(self.pid) {
            // SAFETY: kill(2) with a negative pid signals the process group we created for our
            // child (`process_group(0)` made its id the group id); it touches no memory.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
        let problems: Vec<String> = self
            .log_text()
            .lines()
            .filter(|l| !l.starts_with("oidc-provider WARNING") && !l.starts_with("ready:"))
            .map(String::from)
            .collect();
        if !problems.is_empty() {
            println!(
                "peer log (beyond its start-up warnings):\n{}",
                tail(&problems.join("\n"), 4000)
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The processes whose parent is `pid` (`/proc/<pid>/stat`, field 4).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&candidate| {
            std::fs::read_to_string(format!("/proc/{candidate}/stat"))
                .ok()
                .and_then(|stat| {
                    let after = stat.rsplit_once(')')?.1.to_string();
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect();
    children.sort_unstable();
    children
}

// ---------------------------------------------------------------------------------------------
// The requests

/// The peer's side of the three shared scenarios.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PeerKind {
    ClientCredentials,
    Refresh,
    AuthorizationCode,
}

pub(crate) struct Peer {
    target: Arc<Target>,
    basic: String,
}

impl Subject for Peer {
    type Kind = PeerKind;

    fn addr(&self) -> SocketAddr {
        self.target.addr
    }

    async fn setup(&self, kind: PeerKind, conn: &mut Conn, own: &mut Own) -> Result<(), String> {
        match kind {
            PeerKind::ClientCredentials => Ok(()),
            PeerKind::Refresh | PeerKind::AuthorizationCode => self.sign_in(conn, own).await,
        }
    }

    async fn step(&self, kind: PeerKind, conn: &mut Conn, own: &mut Own) -> Result<(), String> {
        match kind {
            PeerKind::ClientCredentials => {
                client_credentials(conn, &self.target, &self.basic).await
            }
            PeerKind::Refresh => refresh(conn, &self.target, &self.basic, &mut own.token).await,
            PeerKind::AuthorizationCode => self.code_flow(conn, own).await,
        }
    }
}

impl Peer {
    fn authorize(
        &self,
        cookies: &str,
        scope: &str,
        prompt: Option<&str>,
        challenge: &str,
    ) -> Request<Body> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs([
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("scope", scope),
            ("state", "bench"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]);
        if let Some(prompt) = prompt {
            query.append_pair("prompt", prompt);
        }
        self.get(&format!("/oauth/authorize?{}", query.finish()), cookies)
    }

    fn get(&self, path: &str, cookies: &str) -> Request<Body> {
        let mut request = self.target.get(path);
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies);
        }
        bodyless(request)
    }

    /// The code of a redirect back to the client, checked against our `state`.
    fn code_of(reply: &Reply) -> Result<String, String> {
        if !reply.status.is_redirection()
            || !reply
                .location()
                .is_some_and(|l| l.starts_with(REDIRECT_URI))
        {
            return Err(format!(
                "authorize: status {} to {:?} (expected a redirect to the client): {}",
                reply.status,
                reply.location(),
                tail(&reply.text(), 300)
            ));
        }
        if reply.location_param("state").as_deref() != Some("bench") {
            return Err("authorize redirect without our state".into());
        }
        reply
            .location_param("code")
            .ok_or_else(|| "authorize redirect without a code".into())
    }

    async fn redeem(&self, conn: &mut Conn, code: &str, verifier: &str) -> Result<Value, String> {
        let tokens = conn
            .send(form(
                self.target
                    .post("/oauth/token")
                    .header(header::AUTHORIZATION, self.basic.as_str()),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", verifier),
                ],
            ))
            .await?
            .expect(StatusCode::OK, "POST /oauth/token (authorization_code)")?
            .json("token response")?;
        if tokens["id_token"].as_str().is_none() {
            return Err("the token response has no id_token".into());
        }
        Ok(tokens)
    }

    /// Once per connection: authorize with `prompt=consent` (`offline_access` asks for it) →
    /// the interaction signs the account in and grants the scopes → back to authorize → a code
    /// → tokens. Leaves the session cookies and the first refresh token in `own`.
    async fn sign_in(&self, conn: &mut Conn, own: &mut Own) -> Result<(), String> {
        let (verifier, challenge) = pkce_pair();
        let mut jar = Vec::new();
        let mut reply = conn
            .send(self.authorize("", "openid offline_access", Some("consent"), &challenge))
            .await?;
        for _ in 0..4 {
            keep_cookies(&mut jar, &reply);
            let Some(next) = reply.location().filter(|l| !l.starts_with(REDIRECT_URI)) else {
                break;
            };
            // `/interaction/<uid>`, then `http://<issuer>/oauth/authorize/<uid>`.
            let path = match url::Url::parse(next) {
                Ok(url) => match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_string(),
                },
                Err(_) => next.to_string(),
            };
            reply = conn.send(self.get(&path, &jar.join("; "))).await?;
        }
        let code = Self::code_of(&reply)?;
        let tokens = self.redeem(conn, &code, &verifier).await?;
        own.token = tokens["refresh_token"]
            .as_str()
            .ok_or("the first token response has no refresh_token")?
            .to_string();
        jar.retain(|pair| pair.starts_with("_session"));
        if jar.is_empty() {
            return Err("signing in set no _session cookie".into());
        }
        own.cookies = jar.join("; ");
        Ok(())
    }

    /// One flow: authorize with the session and the remembered grant → a code → tokens.
    async fn code_flow(&self, conn: &mut Conn, own: &mut Own) -> Result<(), String> {
        let (verifier, challenge) = pkce_pair();
        let redirect = conn
            .send(self.authorize(&own.cookies, "openid", None, &challenge))
            .await?;
        let code = Self::code_of(&redirect)?;
        if redirect.cookies().next().is_some() {
            let mut jar: Vec<String> = own.cookies.split("; ").map(String::from).collect();
            keep_cookies(&mut jar, &redirect);
            own.cookies = jar.join("; ");
        }
        self.redeem(conn, &code, &verifier).await.map(|_| ())
    }
}

/// Adds (or replaces, by name) the cookies `reply` sets to `jar` (`name=value` pairs).
fn keep_cookies(jar: &mut Vec<String>, reply: &Reply) {
    for pair in reply.cookies() {
        let name = pair.split('=').next().unwrap_or_default();
        jar.retain(|kept| kept.split('=').next() != Some(name));
        jar.push(pair.to_string());
    }
}
