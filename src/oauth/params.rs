//! Request parameters as RFC 6749 defines them: `application/x-www-form-urlencoded` pairs from a
//! body or a query string. The HTTP layer reads the bytes; the protocol reads the values.

/// Why parameters were refused (always the client's fault: a 400 `invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsError(pub String);

/// Parameters of an `application/x-www-form-urlencoded` body or a query string, each name at
/// most once (RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than
/// once").
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: &[u8]) -> Result<Params, ParamsError> {
        if std::str::from_utf8(raw).is_err() {
            return Err(ParamsError("body is not valid UTF-8".into()));
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(raw) {
            // form_urlencoded decodes invalid percent-encoded UTF-8 lossily; refuse it instead.
            if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
                return Err(ParamsError("parameters must be valid UTF-8".into()));
            }
            if out.iter().any(|(name, _)| *name == k) {
                return Err(ParamsError(format!("parameter `{k}` is repeated")));
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        Ok(Params(out))
    }

    /// A value; empty values count as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

#[cfg(test)]
mod tests;
