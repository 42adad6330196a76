use super::*;

fn keys(byte: u8) -> ServerKeys {
    ServerKeys::from_master(&[byte; 32])
}

#[test]
fn sealed_pending_requests_open_only_intact_and_under_the_same_master_key() {
    let k = keys(1);
    let sealed = k.seal_pending_request(b"{\"p\":{}}");
    assert_eq!(
        k.open_pending_request(&sealed).as_deref(),
        Some(&b"{\"p\":{}}"[..])
    );
    assert_ne!(
        sealed,
        k.seal_pending_request(b"{\"p\":{}}"),
        "random nonce"
    );
    assert_eq!(
        keys(2).open_pending_request(&sealed),
        None,
        "another master key"
    );
    let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    for i in [0, raw.len() / 2, raw.len() - 1] {
        raw[i] ^= 1;
        assert_eq!(
            k.open_pending_request(&URL_SAFE_NO_PAD.encode(&raw)),
            None,
            "byte {i}"
        );
        raw[i] ^= 1;
    }
    assert_eq!(k.open_pending_request(""), None);
    assert_eq!(k.open_pending_request("not base64!"), None);
    // The key is its own: a signing-key ciphertext does not open as a pending request.
    assert_eq!(k.open_pending_request(&k.encrypt(PENDING_AAD, b"x")), None);
}

#[test]
fn session_and_double_submit_csrf_tokens_cannot_stand_in_for_each_other() {
    let k = keys(1);
    let session = random_token(32);
    let other_session = random_token(32);
    let token = k.csrf_session_token(&session);
    assert!(k.verify_csrf_session(&session, &token));
    assert!(!k.verify_csrf_session(&other_session, &token));
    assert!(!keys(2).verify_csrf_session(&session, &token));
    // A double-submit token for a cookie holding the same value is a different token.
    assert!(!k.verify_csrf_session(&session, &k.csrf_token(&session)));
    assert!(!k.verify_csrf(&session, &token));
    assert!(!k.verify_csrf_session(&session, "garbage"));
}

#[test]
fn successors_open_only_with_the_token_they_were_sealed_for_and_intact() {
    let sealed = seal_successor("old-token", "next-token");
    assert_eq!(
        open_successor("old-token", &sealed).as_deref(),
        Some("next-token")
    );
    assert!(!sealed.contains("next-token"));
    assert_ne!(
        sealed,
        seal_successor("old-token", "next-token"),
        "random nonce"
    );
    assert_eq!(open_successor("other-token", &sealed), None, "another key");
    assert_eq!(open_successor("old-token", "not base64!"), None);
    assert_eq!(open_successor("old-token", ""), None, "too short");
    let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    for i in [0, raw.len() / 2, raw.len() - 1] {
        raw[i] ^= 1;
        assert_eq!(
            open_successor("old-token", &URL_SAFE_NO_PAD.encode(&raw)),
            None,
            "tampered at byte {i}"
        );
        raw[i] ^= 1;
    }
    // Sealed for another purpose under the same key material: refused (label is the AAD).
    let other = seal(&successor_key("old-token"), "other label", b"next-token");
    assert_eq!(open_successor("old-token", &other), None);
}
