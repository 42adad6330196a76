//! The Markdown report: its rows, notes and header line.

use std::{
    process::Command,
    time::{SystemTime, UNIX_EPOCH},
};

use crate::{scenarios::ScenarioResult, Settings};

/// (req/s, p50 µs, p99 µs, errors): the parts a row may leave empty are `None`.
type Load = (f64, Option<u64>, Option<u64>, Option<u64>);

pub(crate) struct Row {
    pub(crate) backend: String,
    pub(crate) scenario: String,
    pub(crate) load: Option<Load>,
    pub(crate) rss_kib: Option<u64>,
    /// Server CPU milliseconds per request (not a column: the notes and ratios use it).
    pub(crate) cpu_ms: Option<f64>,
}

impl Row {
    pub(crate) fn rss_only(backend: &str, scenario: &str, rss_kib: u64) -> Row {
        Row {
            backend: backend.into(),
            scenario: scenario.into(),
            load: None,
            rss_kib: Some(rss_kib),
            cpu_ms: None,
        }
    }
}

pub(crate) struct Report {
    pub(crate) rows: Vec<Row>,
    pub(crate) notes: Vec<String>,
    pub(crate) versions: Vec<String>,
    /// `/proc/loadavg` before the run: other work on the machine skews every number.
    pub(crate) load_before: String,
}

impl Report {
    pub(crate) fn push(
        &mut self,
        backend: &str,
        scenario: &str,
        result: &ScenarioResult,
        group: usize,
    ) {
        let g = &result.groups[group];
        self.rows.push(Row {
            backend: backend.into(),
            scenario: scenario.into(),
            load: Some((
                g.rate(),
                Some(g.percentile(50.0)),
                Some(g.percentile(99.0)),
                Some(g.errors),
            )),
            rss_kib: Some(result.peak_rss_kib),
            cpu_ms: Some(result.cpu_ms_per_request()),
        });
        if let Some(e) = &g.first_error {
            self.notes
                .push(format!("{backend} / {scenario}: first failure: {e}"));
        }
    }

    /// The row of `backend` and `scenario`, if it was measured.
    pub(crate) fn row(&self, backend: &str, scenario: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.backend == backend && r.scenario == scenario && r.load.is_some())
    }

    pub(crate) fn markdown(&self, settings: &Settings) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Load benchmark of {} on {}: {}; {} connections ({} for logins), {} s measured per \
             scenario after 1 s warm-up, generator on {} thread(s), load average before the \
             run {}. Produced by `cargo bench --bench load`.\n\n",
            logi_revision(),
            utc_now(),
            if self.versions.is_empty() {
                "no backend".to_string()
            } else {
                self.versions.join(", ")
            },
            settings.connections,
            settings.login_connections,
            settings.measure.as_secs(),
            settings.client_threads,
            self.load_before,
        ));
        out.push_str("| backend | scenario | req/s | p50 ms | p99 ms | errors | peak RSS MiB |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
        let dash = || "–".to_string();
        for row in &self.rows {
            let (rate, p50, p99, errors) = match row.load {
                Some((rate, p50, p99, errors)) => (
                    if rate >= 100.0 {
                        format!("{rate:.0}")
                    } else {
                        format!("{rate:.1}")
                    },
                    p50.map(ms).unwrap_or_else(dash),
                    p99.map(ms).unwrap_or_else(dash),
                    errors.map(|e| e.to_string()).unwrap_or_else(dash),
                ),
                None => (dash(), dash(), dash(), dash()),
            };
            let rss = row
                .rss_kib
                .map(|kib| format!("{:.1}", kib as f64 / 1024.0))
                .unwrap_or_else(dash);
            out.push_str(&format!(
                "| {} | {} | {rate} | {p50} | {p99} | {errors} | {rss} |\n",
                row.backend, row.scenario
            ));
        }
        out.push_str(&format!(
            "\nRaw argon2 rows: argon2id with the server's parameters (m = {} KiB, t = {}, p = {}) \
             hashed in the benchmark process while the server idles; req/s is hashes/s.\n",
            logi::accounts::passwords::MEMORY_KIB,
            logi::accounts::passwords::ITERATIONS,
            logi::accounts::passwords::PARALLELISM,
        ));
        out.push_str(
            "Raw signature rows: RS256 (RSA-2048) and ES256 (P-256) signatures with aws-lc-rs in \
             the benchmark process on one thread for 2 s each, before any server starts; req/s \
             is signatures/s on one core.\n",
        );
        if self
            .rows
            .iter()
            .any(|r| r.backend.starts_with(crate::drivers::ROW_PREFIX))
        {
            out.push_str(&crate::drivers::footnote());
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                out.push_str(&format!("- {note}\n"));
            }
        }
        out
    }
}

/// Milliseconds with two decimals from microseconds.
pub(crate) fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn logi_revision() -> String {
    let described = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match described {
        Some(rev) if !rev.is_empty() => format!("logi {} ({rev})", env!("CARGO_PKG_VERSION")),
        _ => format!("logi {}", env!("CARGO_PKG_VERSION")),
    }
}

/// `YYYY-MM-DD HH:MM UTC` without a date crate (civil-from-days, H. Hinnant).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}
