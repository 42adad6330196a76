//! A lean HTTP client: one keep-alive HTTP/1.1 connection per worker.

use std::{net::SocketAddr, time::Duration};

use http_body_util::{BodyExt, Full};
use hyper::{
    body::Bytes, client::conn::http1, header, http::request::Builder, HeaderMap, Method, Request,
    StatusCode,
};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Upper bound for one HTTP exchange: a stuck server cannot keep the benchmark running.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    host: String,
}

impl Target {
    pub(crate) fn new(addr: SocketAddr) -> Target {
        Target {
            addr,
            host: addr.to_string(),
        }
    }

    fn request(&self, method: Method, path: &str) -> Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.host)
    }

    pub(crate) fn get(&self, path: &str) -> Builder {
        self.request(Method::GET, path)
    }

    pub(crate) fn post(&self, path: &str) -> Builder {
        self.request(Method::POST, path)
    }
}

pub(crate) type Body = Full<Bytes>;

fn empty() -> Body {
    Full::new(Bytes::new())
}

/// Sets a form body on `builder`.
pub(crate) fn form(builder: Builder, pairs: &[(&str, &str)]) -> Request<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    builder
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid form request")
}

/// Sets a JSON body on `builder`.
pub(crate) fn json_body(builder: Builder, value: &Value) -> Request<Body> {
    builder
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("a valid JSON request")
}

/// Finishes `builder` without a body.
pub(crate) fn bodyless(builder: Builder) -> Request<Body> {
    builder.body(empty()).expect("a valid request")
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    /// `Ok(self)` when the status is `expected`, else a description for the error report.
    pub(crate) fn expect(self, expected: StatusCode, what: &str) -> Result<Reply, String> {
        if self.status == expected {
            Ok(self)
        } else {
            Err(format!(
                "{what}: status {} (expected {expected}), body: {}",
                self.status,
                tail(&String::from_utf8_lossy(&self.body), 300)
            ))
        }
    }

    pub(crate) fn json(&self, what: &str) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("{what}: not JSON ({e})"))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `name=value` of the `Set-Cookie` for `name`.
    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.cookies()
            .find(|pair| pair.starts_with(&prefix))
            .map(String::from)
    }

    /// Every `name=value` the response sets (`Set-Cookie`), in order.
    pub(crate) fn cookies(&self) -> impl Iterator<Item = &str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
    }

    /// The `Location` header.
    pub(crate) fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION)?.to_str().ok()
    }

    /// The query parameter `name` of the `Location` header.
    pub(crate) fn location_param(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(self.location()?).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

pub(crate) struct Conn {
    addr: SocketAddr,
    sender: Option<http1::SendRequest<Body>>,
}

impl Conn {
    pub(crate) fn new(addr: SocketAddr) -> Conn {
        Conn { addr, sender: None }
    }

    async fn connect(addr: SocketAddr) -> Result<http1::SendRequest<Body>, String> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes the connection.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends `request` on the kept-alive connection (reconnecting when the server closed it)
    /// and reads the whole response, within `REQUEST_TIMEOUT`.
    pub(crate) async fn send(&mut self, request: Request<Body>) -> Result<Reply, String> {
        if self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
        }
        let addr = self.addr;
        let slot = &mut self.sender;
        let exchange = async move {
            let sender = match slot {
                Some(sender) => sender,
                None => slot.insert(Self::connect(addr).await?),
            };
            sender
                .ready()
                .await
                .map_err(|e| format!("connection: {e}"))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes();
            Ok::<Reply, String>(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        let result = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no response within {REQUEST_TIMEOUT:?}")));
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The last `max` bytes of `s` (on a character boundary).
pub(crate) fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
