//! How a session was authenticated: the RFC 8176 `amr` values and the `acr` that follows from
//! them (SPEC "End users": `urn:logi:acr:pwd` or `urn:logi:acr:mfa`).
//!
//! Sessions and grants store the methods only (`"pwd otp"`); `mfa` and the `acr` are derived
//! here, in one place, so the two can never disagree.

/// Authentication with one factor (a password).
pub const ACR_PWD: &str = "urn:logi:acr:pwd";
/// Authentication with two factors.
pub const ACR_MFA: &str = "urn:logi:acr:mfa";
/// Every `acr` logi issues, for discovery (`acr_values_supported`).
pub const ACR_VALUES: &[&str] = &[ACR_PWD, ACR_MFA];

/// One authentication method (RFC 8176 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `pwd`: the account's password.
    Password,
    /// `otp`: a TOTP code, or a single-use recovery code.
    Otp,
    /// `hwk`: a passkey bound to one device (not backup-eligible).
    HardwareKey,
    /// `swk`: a passkey that may be synced between devices (backup-eligible).
    SoftwareKey,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Password => "pwd",
            Method::Otp => "otp",
            Method::HardwareKey => "hwk",
            Method::SoftwareKey => "swk",
        }
    }

    fn parse(value: &str) -> Option<Method> {
        match value {
            "pwd" => Some(Method::Password),
            "otp" => Some(Method::Otp),
            "hwk" => Some(Method::HardwareKey),
            "swk" => Some(Method::SoftwareKey),
            _ => None,
        }
    }

    /// A passkey: logi demands user verification (a PIN or biometric on the authenticator), so
    /// it is something you have unlocked by something you know or are: two factors by itself
    /// (NIST SP 800-63B §5.1.9, multi-factor cryptographic authenticator).
    fn is_multi_factor(self) -> bool {
        matches!(self, Method::HardwareKey | Method::SoftwareKey)
    }

    /// A passkey method, from the credential's backup eligibility (WebAuthn §6.1 flag `BE`).
    pub fn passkey(backup_eligible: bool) -> Method {
        if backup_eligible {
            Method::SoftwareKey
        } else {
            Method::HardwareKey
        }
    }
}

/// The methods of one authentication, in the order they were used, without repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Amr(Vec<Method>);

impl Amr {
    pub fn of(method: Method) -> Amr {
        Amr(vec![method])
    }

    /// These methods and `method` (a second step adds to the first).
    pub fn with(mut self, method: Method) -> Amr {
        if !self.0.contains(&method) {
            self.0.push(method);
        }
        self
    }

    /// Reads the stored form; unknown values are dropped (never upgrade on garbage).
    pub fn parse(stored: &str) -> Amr {
        stored
            .split(' ')
            .filter_map(Method::parse)
            .fold(Amr::default(), Amr::with)
    }

    /// The stored form: method values, space-separated.
    pub fn stored(&self) -> String {
        self.0
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Two factors: two different methods, or one passkey (see [`Method::is_multi_factor`]).
    pub fn is_mfa(&self) -> bool {
        self.0.len() >= 2 || self.0.iter().any(|m| m.is_multi_factor())
    }

    /// The `amr` claim: the methods, and `mfa` when there were two factors.
    pub fn claim(&self) -> Vec<&'static str> {
        let mut values: Vec<&'static str> = self.0.iter().map(|m| m.as_str()).collect();
        if self.is_mfa() {
            values.push("mfa");
        }
        values
    }

    /// The `acr` claim.
    pub fn acr(&self) -> &'static str {
        if self.is_mfa() {
            ACR_MFA
        } else {
            ACR_PWD
        }
    }
}

/// Whether an `acr_values` request (OIDC Core §3.1.2.1, space-separated, in order of
/// preference) can only be met with two factors: it names `urn:logi:acr:mfa` and no value that
/// one factor meets. Values logi does not know are ignored (the claim is voluntary).
pub fn requires_mfa(acr_values: &str) -> bool {
    let values: Vec<&str> = acr_values.split(' ').filter(|v| !v.is_empty()).collect();
    values.contains(&ACR_MFA) && !values.contains(&ACR_PWD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_alone_is_one_factor() {
        let amr = Amr::of(Method::Password);
        assert_eq!(amr.claim(), vec!["pwd"]);
        assert_eq!(amr.acr(), ACR_PWD);
    }

    #[test]
    fn a_password_and_a_code_are_two_factors() {
        let amr = Amr::of(Method::Password).with(Method::Otp);
        assert_eq!(amr.claim(), vec!["pwd", "otp", "mfa"]);
        assert_eq!(amr.acr(), ACR_MFA);
        assert_eq!(Amr::parse(&amr.stored()), amr);
    }

    #[test]
    fn a_passkey_is_two_factors_by_itself() {
        assert_eq!(Amr::of(Method::passkey(false)).claim(), vec!["hwk", "mfa"]);
        assert_eq!(Amr::of(Method::passkey(true)).claim(), vec!["swk", "mfa"]);
        assert_eq!(Amr::of(Method::passkey(true)).acr(), ACR_MFA);
    }

    #[test]
    fn the_same_method_twice_is_one_factor() {
        let amr = Amr::of(Method::Otp).with(Method::Otp);
        assert_eq!(amr.claim(), vec!["otp"]);
    }

    #[test]
    fn unknown_stored_values_never_add_a_factor() {
        assert_eq!(Amr::parse("pwd mfa junk").claim(), vec!["pwd"]);
        assert!(Amr::parse("").is_empty());
    }

    #[test]
    fn acr_values_require_mfa_only_when_one_factor_is_not_acceptable() {
        assert!(requires_mfa(ACR_MFA));
        assert!(requires_mfa(&format!("{ACR_MFA} urn:other")));
        assert!(!requires_mfa(&format!("{ACR_MFA} {ACR_PWD}")));
        assert!(!requires_mfa(ACR_PWD));
        assert!(!requires_mfa(""));
    }
}
