//! Request parameters as RFC 6749 defines them: `application/x-www-form-urlencoded` pairs from a
//! body or a query string. The HTTP layer reads the bytes; the protocol reads the values.

/// Why parameters were refused (always the client's fault: a 400 `invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsError(pub String);

/// Parameters of an `application/x-www-form-urlencoded` body or a query string, each name at
/// most once (RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than
/// once"), except the ones an extension defines as repeatable ([`MULTI_VALUED`]).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

/// Parameters that may appear more than once: RFC 8707 §2 `resource` ("may be used multiple
/// times to indicate that the requested token is intended to be used at multiple resources").
pub const MULTI_VALUED: &[&str] = &["resource"];

/// HTML form fields that a group of checkboxes repeats (the developer console's grant types);
/// never accepted repeated at an OAuth endpoint.
const FORM_MULTI_VALUED: &[&str] = &["grant_types"];

/// Which control characters a value may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Controls {
    /// None at all: OAuth parameters are identifiers, URIs, codes and tokens.
    None,
    /// Tab, line feed and carriage return (an HTML textarea); never NUL or the others.
    LineBreaks,
}

/// Whether `text` holds a control character (C0, DEL or C1) that `allowed` does not permit.
/// NUL is always refused: PostgreSQL cannot store it in `TEXT`, and no field legitimately
/// needs any of them.
fn has_forbidden_control(text: &str, allowed: Controls) -> bool {
    text.chars().any(|c| {
        c.is_control() && !(allowed == Controls::LineBreaks && matches!(c, '\t' | '\n' | '\r'))
    })
}

/// Whether `text` holds a control character other than tab, line feed or carriage return (the
/// rule for free text such as JSON strings and form fields).
pub fn has_control_characters(text: &str) -> bool {
    has_forbidden_control(text, Controls::LineBreaks)
}

impl Params {
    /// Protocol parameters (a query string or a form body at an OAuth endpoint): invalid UTF-8,
    /// a repeated name or any control character is refused.
    pub fn parse(raw: &[u8]) -> Result<Params, ParamsError> {
        Self::parse_with(raw, Controls::None)
    }

    /// The fields of an HTML form: as [`parse`](Self::parse), but a textarea's tabs and line
    /// breaks are kept (NUL and the other control characters are still refused).
    pub fn parse_form_fields(raw: &[u8]) -> Result<Params, ParamsError> {
        Self::parse_with(raw, Controls::LineBreaks)
    }

    fn parse_with(raw: &[u8], controls: Controls) -> Result<Params, ParamsError> {
        if std::str::from_utf8(raw).is_err() {
            return Err(ParamsError("body is not valid UTF-8".into()));
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(raw) {
            // form_urlencoded decodes invalid percent-encoded UTF-8 lossily; refuse it instead.
            if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
                return Err(ParamsError("parameters must be valid UTF-8".into()));
            }
            if has_forbidden_control(&k, Controls::None) {
                return Err(ParamsError(
                    "a parameter name contains a control character".into(),
                ));
            }
            if has_forbidden_control(&v, controls) {
                return Err(ParamsError(format!(
                    "parameter `{k}` contains a control character"
                )));
            }
            let repeatable = MULTI_VALUED.contains(&k.as_ref())
                || (controls == Controls::LineBreaks && FORM_MULTI_VALUED.contains(&k.as_ref()));
            if out.iter().any(|(name, _)| *name == k) && !repeatable {
                return Err(ParamsError(format!("parameter `{k}` is repeated")));
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        Ok(Params(out))
    }

    /// Like [`Params::parse`], but a repeated name is not fatal: the names given exactly once,
    /// and the repeated names (each once, in order of appearance). For `/oauth/authorize`, whose
    /// errors go back to the client once `client_id` and `redirect_uri` are known (RFC 6749
    /// §4.1.2.1). Other malformations still fail.
    pub fn parse_with_repeats(raw: &[u8]) -> Result<(Params, Vec<String>), ParamsError> {
        if std::str::from_utf8(raw).is_err() {
            return Err(ParamsError("body is not valid UTF-8".into()));
        }
        let mut all: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(raw) {
            if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
                return Err(ParamsError("parameters must be valid UTF-8".into()));
            }
            all.push((k.into_owned(), v.into_owned()));
        }
        let count = |name: &str| {
            if MULTI_VALUED.contains(&name) {
                1
            } else {
                all.iter().filter(|(k, _)| k == name).count()
            }
        };
        let mut repeated: Vec<String> = Vec::new();
        for (k, _) in &all {
            if count(k) > 1 && !repeated.contains(k) {
                repeated.push(k.clone());
            }
        }
        let singles = all.iter().filter(|(k, _)| count(k) == 1).cloned().collect();
        Ok((Params(singles), repeated))
    }

    /// A value; empty values count as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter ([`MULTI_VALUED`]), empty values left out.
    pub fn get_all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

#[cfg(test)]
mod tests;
