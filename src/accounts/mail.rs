//! Mail to end users: queued in the durable outbox (kind [`KIND`]), delivered by the server's
//! outbox worker through [`Mailer`] (SMTP, or `.eml` files in `data_dir/outbox/` when no
//! `smtp_url` is configured).
//!
//! A request never sends mail itself: it calls [`enqueue`] (or [`outbox_item`] to write the
//! mail in the transaction that needs it), and the worker delivers it with retries and backoff,
//! so a slow or down mail server never slows a page and a restart loses no mail.
//!
//! **The outbox row is sealed** (AES-256-GCM under a key derived from the master key): a mail
//! may carry a single-use link (verification, password reset) whose token the database
//! otherwise holds only as a hash, so a copy of the database alone must not reveal it.

use std::path::PathBuf;

use lettre::{
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde::{Deserialize, Serialize};

use crate::{
    config::{Config, SmtpSecurity},
    crypto::{random_token, ServerKeys},
    store::{self, outbox::NewItem, Store},
};

/// The outbox kind of a mail.
pub const KIND: &str = "mail";
/// The AEAD label (additional data) of a sealed mail.
const SEAL_LABEL: &str = "logi outbox mail v1";

/// One mail: plain text plus simple HTML (sent as `multipart/alternative`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The outbox row of a mail (sealed), to be written in the caller's transaction.
pub fn outbox_item(keys: &ServerKeys, mail: &Mail) -> NewItem {
    let plain = serde_json::to_vec(mail).unwrap_or_default();
    NewItem {
        kind: KIND.into(),
        payload: serde_json::json!({ "sealed": keys.encrypt(SEAL_LABEL, &plain) }).to_string(),
    }
}

/// Opens what [`outbox_item`] sealed; `None` when it is damaged or the master key changed.
pub fn open_item(keys: &ServerKeys, payload: &str) -> Option<Mail> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    let plain = keys.decrypt(SEAL_LABEL, value.get("sealed")?.as_str()?)?;
    serde_json::from_slice(&plain).ok()
}

/// Queues a mail for delivery (on its own; see [`outbox_item`] to queue it with other writes).
pub async fn enqueue(store: &Store, keys: &ServerKeys, mail: &Mail, now: i64) -> store::Result<()> {
    store::outbox::enqueue(store, &outbox_item(keys, mail), now).await
}

/// Queues a notice about the account ("Your password was changed"): `message` is one plain
/// paragraph (not HTML); the mail adds what to do if it was not the account holder.
pub async fn notify(
    store: &Store,
    keys: &ServerKeys,
    issuer: &str,
    to: &str,
    subject: &str,
    message: &str,
    now: i64,
) -> store::Result<()> {
    let help = format!(
        "If this was not you, reset your password at {issuer}/forgot-password and review your \
         account."
    );
    let mail = Mail {
        to: to.into(),
        subject: subject.into(),
        text: format!("{message}\n\n{help}\n"),
        html: html_page(&[message, &help]),
    };
    enqueue(store, keys, &mail, now).await
}

/// A mail with a link to follow: `intro`, the link, then `outro`.
pub fn link_mail(to: &str, subject: &str, intro: &str, link: &str, outro: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: subject.into(),
        text: format!("{intro}\n\n{link}\n\n{outro}\n"),
        html: format!(
            "<!doctype html><html><body><p>{}</p><p><a href=\"{}\">{}</a></p><p>{}</p></body></html>",
            escape(intro),
            escape(link),
            escape(link),
            escape(outro)
        ),
    }
}

fn html_page(paragraphs: &[&str]) -> String {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>", escape(p)))
        .collect();
    format!("<!doctype html><html><body>{body}</body></html>")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    /// Worth another attempt (the server was unreachable or refused for now).
    Failed(String),
    /// Never deliverable (unreadable row, invalid address): give up at once.
    Undeliverable(String),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Development: `.eml` files in this folder.
    Files(PathBuf),
}

/// Where mail goes, built once from the configuration.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    /// Builds the mailer from a validated configuration (`Err` names the key at fault).
    pub fn new(config: &Config) -> Result<Mailer, String> {
        let from: Mailbox = config
            .mail_from
            .trim()
            .parse()
            .map_err(|e| format!("configuration key `mail_from`: {e}"))?;
        let Some(smtp) = config.smtp().map_err(|e| e.to_string())? else {
            return Ok(Mailer {
                from,
                transport: Transport::Files(config.data_dir.join("outbox")),
            });
        };
        let tls = |host: &str| {
            TlsParameters::new_rustls(host.to_string())
                .map_err(|e| format!("configuration key `smtp_url`: TLS: {e}"))
        };
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str());
        let builder = match smtp.security {
            SmtpSecurity::Plain => builder.tls(Tls::None),
            SmtpSecurity::StartTls => builder.tls(Tls::Required(tls(&smtp.host)?)),
            SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls(&smtp.host)?)),
        };
        let mut builder = builder
            .port(smtp.port)
            .timeout(Some(std::time::Duration::from_millis(
                config.outbound_timeout_ms.max(1000),
            )));
        if let Some((user, password)) = smtp.credentials {
            builder = builder.credentials(Credentials::new(user, password.0));
        }
        Ok(Mailer {
            from,
            transport: Transport::Smtp(builder.build()),
        })
    }

    /// Whether mail goes to files (no `smtp_url`).
    pub fn writes_files(&self) -> bool {
        matches!(self.transport, Transport::Files(_))
    }

    /// One delivery attempt of a queued mail (its outbox `payload`).
    pub async fn deliver(&self, keys: &ServerKeys, payload: &str) -> Sent {
        let Some(mail) = open_item(keys, payload) else {
            return Sent::Undeliverable("unreadable mail (damaged, or another master key)".into());
        };
        let to: Mailbox = match mail.to.parse() {
            Ok(to) => to,
            Err(e) => return Sent::Undeliverable(format!("invalid recipient: {e}")),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html));
        let message = match message {
            Ok(message) => message,
            Err(e) => return Sent::Undeliverable(format!("cannot build the mail: {e}")),
        };
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Sent::Delivered,
                Err(e) if e.is_permanent() => Sent::Undeliverable(format!("smtp: {e}")),
                Err(e) => Sent::Failed(format!("smtp: {e}")),
            },
            Transport::Files(dir) => write_file(dir, &message.formatted()).await,
        }
    }
}

/// Writes one `.eml` file (owner-only folder) and logs its path. Written under a hidden
/// temporary name and renamed into place, so whoever watches the folder never reads half a
/// message.
async fn write_file(dir: &std::path::Path, bytes: &[u8]) -> Sent {
    if let Err(e) = crate::crypto::create_private_dir(dir) {
        return Sent::Failed(format!("cannot create {}: {e}", dir.display()));
    }
    let name = random_token(12);
    let path = dir.join(format!("{name}.eml"));
    let partial = dir.join(format!(".{name}.eml.partial"));
    let written = match tokio::fs::write(&partial, bytes).await {
        Ok(()) => tokio::fs::rename(&partial, &path).await,
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), "mail written (no smtp_url is configured)");
            Sent::Delivered
        }
        Err(e) => Sent::Failed(format!("cannot write {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_mail_opens_only_with_its_key() {
        let keys = ServerKeys::from_master(&[7u8; 32]);
        let mail = link_mail(
            "a@example.com",
            "Subject",
            "Hello <you>",
            "https://logi.example/x?token=abc&y=1",
            "Bye",
        );
        let item = outbox_item(&keys, &mail);
        assert_eq!(item.kind, KIND);
        assert!(!item.payload.contains("token=abc"), "the row is sealed");
        assert_eq!(open_item(&keys, &item.payload), Some(mail.clone()));
        let other = ServerKeys::from_master(&[8u8; 32]);
        assert_eq!(open_item(&other, &item.payload), None);
        assert!(mail.html.contains("Hello &lt;you&gt;"));
        assert!(mail.html.contains("token=abc&amp;y=1"));
    }
}
