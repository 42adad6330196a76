use super::*;

type Params<'a> = &'a [(&'a str, &'a str)];

#[test]
fn redirects_keep_the_uri_query_and_encode_values() {
    let cases: &[(&str, Params, &str)] = &[
        (
            "https://rp.example/cb",
            &[("code", "abc"), ("state", "xyz")],
            "https://rp.example/cb?code=abc&state=xyz",
        ),
        // The registered URI's own query stays, in front.
        (
            "https://rp.example/cb?tenant=1&x=y",
            &[("code", "abc")],
            "https://rp.example/cb?tenant=1&x=y&code=abc",
        ),
        // Values are form-encoded: a state cannot add parameters.
        (
            "https://rp.example/cb",
            &[("state", "a b&code=evil#frag"), ("error_description", "é+/?")],
            "https://rp.example/cb?state=a+b%26code%3Devil%23frag&error_description=%C3%A9%2B%2F%3F",
        ),
        (
            "http://127.0.0.1:51234/cb",
            &[("error", "access_denied")],
            "http://127.0.0.1:51234/cb?error=access_denied",
        ),
        (
            "com.example.app:/cb",
            &[("code", "abc")],
            "com.example.app:/cb?code=abc",
        ),
        // The registered string byte for byte, even where a URL parser would rewrite it.
        (
            "https://rp.example",
            &[("code", "abc")],
            "https://rp.example?code=abc",
        ),
        (
            "https://RP.example:443/a/../cb",
            &[("code", "abc")],
            "https://RP.example:443/a/../cb?code=abc",
        ),
        (
            "com.example.app:/cb?x=%7e",
            &[("code", "abc")],
            "com.example.app:/cb?x=%7e&code=abc",
        ),
        // An empty query or a trailing `&` needs no separator.
        (
            "https://rp.example/cb?",
            &[("code", "abc")],
            "https://rp.example/cb?code=abc",
        ),
        (
            "https://rp.example/cb?x=1&",
            &[("code", "abc")],
            "https://rp.example/cb?x=1&code=abc",
        ),
        // (Registration refuses fragments; were one there, the query would go before it.)
        (
            "https://rp.example/cb#f",
            &[("code", "abc")],
            "https://rp.example/cb?code=abc#f",
        ),
        // Nothing to add: the URI as it is.
        ("https://rp.example/cb?x=1", &[], "https://rp.example/cb?x=1"),
        ("not a URI", &[], "not a URI"),
        ("not a URI", &[("code", "abc")], "not a URI?code=abc"),
    ];
    for (uri, params, expected) in cases {
        assert_eq!(redirect_with(uri, params), *expected, "{uri} {params:?}");
    }
}
