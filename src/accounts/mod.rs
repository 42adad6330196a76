//! End-user accounts: passwords, sessions and failed-login throttling, second factors (TOTP,
//! recovery codes, passkeys), how a session was authenticated (`amr`, `acr`), mail, email
//! verification and password recovery, and the changes the account page and operators make
//! (`manage`).

pub mod amr;
pub mod claims;
pub mod device;
pub mod login;
pub mod mail;
pub mod manage;
pub mod mfa;
pub mod passkeys;
pub mod passwords;
pub mod recovery;
pub mod sessions;
pub mod totp;

/// Normalises and checks an email address: trimmed, lower-cased, one `@`, no spaces.
pub fn parse_email(input: &str) -> Option<String> {
    let email = input.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(email)
}

/// NIST SP 800-63B: at least 8 characters; the upper bound keeps hashing cost bounded.
pub fn check_new_password(password: &str) -> Result<(), &'static str> {
    match password.chars().count() {
        n if n < 8 => Err("Use at least 8 characters for your password."),
        n if n > 128 => Err("Use at most 128 characters for your password."),
        _ => Ok(()),
    }
}
