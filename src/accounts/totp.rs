//! TOTP (RFC 6238 over HOTP, RFC 4226): HMAC-SHA-1, 6 digits, 30-second steps, as every
//! authenticator app reads an `otpauth://` URI without parameters. Pure functions: the time is
//! passed in, the secret is raw bytes (sealing it is the caller's).

use aws_lc_rs::hmac;

/// Seconds per step (RFC 6238 §4.1 `X`, the default every app assumes).
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Steps accepted either side of the current one, for clocks that drift (RFC 6238 §5.2).
pub const DRIFT_STEPS: i64 = 1;
/// Secret length: 160 bits, the HMAC-SHA-1 block output RFC 4226 §4 recommends.
pub const SECRET_BYTES: usize = 20;
/// The issuer shown by authenticator apps.
pub const ISSUER: &str = "logi";

/// The step a Unix time falls in (RFC 6238 §4.2 `T`, with `T0` = 0).
pub fn step_at(now: i64) -> i64 {
    now.div_euclid(STEP_SECONDS)
}

/// The code of `step` (RFC 4226 §5.3: dynamic truncation, then modulo 10^6).
pub fn code_at(secret: &[u8], step: i64) -> String {
    // SHA-1 is what RFC 6238's default and every authenticator app use; its collision weakness
    // does not touch HMAC.
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!("{:0width$}", binary % 1_000_000, width = DIGITS)
}

/// Whether `code` looks like a TOTP code (six ASCII digits).
pub fn is_code_shaped(code: &str) -> bool {
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// The step within the drift window whose code is `code`, latest first; `None` when none is.
/// Every candidate is compared, in constant time, so the timing says nothing about which.
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    if !is_code_shaped(code) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    for step in (current - DRIFT_STEPS..=current + DRIFT_STEPS).rev() {
        let matches =
            crate::crypto::constant_time_eq(code_at(secret, step).as_bytes(), code.as_bytes());
        if matches && found.is_none() {
            found = Some(step);
        }
    }
    found
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how `otpauth://` URIs carry the secret.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            let index = ((n >> (35 - i * 5)) & 0x1f) as usize;
            out.push(BASE32[index] as char);
        }
    }
    out
}

/// Decodes [`base32`] (case-insensitive, padding ignored); `None` on any other character.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u64, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let value = BASE32.iter().position(|b| *b == c.to_ascii_uppercase())? as u64;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The `otpauth://totp/logi:<email>?secret=…&issuer=logi` URI of the Key Uri Format that
/// authenticator apps scan; the label is percent-encoded (an address may hold `?`, `#`, `&`).
pub fn otpauth_uri(email: &str, secret: &[u8]) -> String {
    let mut label = String::new();
    for b in email.bytes() {
        if b.is_ascii_alphanumeric() || b"@.-_~+".contains(&b) {
            label.push(b as char);
        } else {
            label.push_str(&format!("%{b:02X}"));
        }
    }
    format!(
        "otpauth://totp/{ISSUER}:{label}?secret={}&issuer={ISSUER}",
        base32(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows: the 8-digit codes' last six digits are the 6-digit ones
    /// (both are the truncated value modulo a power of ten).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight_digits) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(
                code_at(secret, step_at(time)),
                eight_digits[2..],
                "T={time}"
            );
        }
    }

    #[test]
    fn codes_of_neighbouring_steps_are_accepted_and_no_others() {
        let secret = b"12345678901234567890";
        let now = 1_234_567_890;
        let step = step_at(now);
        for drift in -1..=1 {
            let code = code_at(secret, step + drift);
            assert_eq!(matching_step(secret, &code, now), Some(step + drift));
        }
        assert_eq!(matching_step(secret, &code_at(secret, step - 2), now), None);
        assert_eq!(matching_step(secret, &code_at(secret, step + 2), now), None);
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(from_base32("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(from_base32("mzxw6ytboi======").unwrap(), b"foobar");
        assert!(from_base32("MZ1").is_none());
        let secret: Vec<u8> = (0..20).collect();
        assert_eq!(from_base32(&base32(&secret)).unwrap(), secret);
    }

    #[test]
    fn the_uri_names_logi_and_escapes_the_label() {
        assert_eq!(
            otpauth_uri("a@example.com", b"foobar"),
            "otpauth://totp/logi:a@example.com?secret=MZXW6YTBOI&issuer=logi"
        );
        assert!(
            otpauth_uri("a?b#c@example.com", b"x").starts_with("otpauth://totp/logi:a%3Fb%23c@")
        );
    }
}
