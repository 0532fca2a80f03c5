use super::*;

const RFC7677_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const RFC7677_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const RFC7677_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC7677_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC7677_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn credential(m: ScramMechanism, user: &str, password: &str, salt: &[u8]) -> UserScramCredential {
    let iterations = NonZeroU32::new(4096).unwrap();
    let salted = m.salted_password(password.as_bytes(), salt, iterations);
    m.credential(user, salt, &salted, 4096)
}

fn rfc_credential() -> UserScramCredential {
    let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    credential(ScramMechanism::Sha256, "user", "pencil", &salt)
}

#[test]
fn rfc7677_exchange_byte_for_byte() {
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let first = server
        .first(
            RFC7677_CLIENT_FIRST.as_bytes(),
            |u| (u == "user").then(rfc_credential),
            RFC7677_SERVER_NONCE,
        )
        .unwrap();
    assert_eq!(String::from_utf8(first).unwrap(), RFC7677_SERVER_FIRST);
    let (user, last) = server.last(RFC7677_CLIENT_FINAL.as_bytes()).unwrap();
    assert_eq!(user, "user");
    assert_eq!(String::from_utf8(last).unwrap(), RFC7677_SERVER_FINAL);
}

#[test]
fn a_wrong_proof_unknown_user_or_replayed_nonce_fails() {
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let wrong = credential(ScramMechanism::Sha256, "user", "pencil2", &salt);
    server
        .first(
            RFC7677_CLIENT_FIRST.as_bytes(),
            |_| Some(wrong),
            RFC7677_SERVER_NONCE,
        )
        .unwrap();
    assert!(server.last(RFC7677_CLIENT_FINAL.as_bytes()).is_err());

    let mut server = ScramServer::new(ScramMechanism::Sha256);
    assert!(
        server
            .first(RFC7677_CLIENT_FIRST.as_bytes(), |_| None, "x")
            .is_err()
    );

    // Another server nonce: the client's final message no longer matches.
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    server
        .first(
            RFC7677_CLIENT_FIRST.as_bytes(),
            |_| Some(rfc_credential()),
            "other",
        )
        .unwrap();
    assert_eq!(
        server.last(RFC7677_CLIENT_FINAL.as_bytes()).unwrap_err().0,
        "Invalid nonce"
    );
    // A final message with no first message before it.
    assert!(
        ScramServer::new(ScramMechanism::Sha256)
            .last(RFC7677_CLIENT_FINAL.as_bytes())
            .is_err()
    );
}

/// A client's proof (RFC 5802 section 3), as librdkafka and Kafka's ScramSaslClient
/// compute it, for `auth` signed with the credential of `password`.
fn client_proof(
    m: ScramMechanism,
    password: &str,
    salt: &[u8],
    iterations: u32,
    auth: &str,
) -> String {
    let salted = m.salted_password(
        password.as_bytes(),
        salt,
        NonZeroU32::new(iterations).unwrap(),
    );
    let client_key = m.hmac(&salted, b"Client Key");
    let signature = m.hmac(&m.hash(&client_key), auth.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    B64.encode(proof)
}

/// The client-final-message answering `server_first`.
fn client_final(
    m: ScramMechanism,
    gs2_header: &str,
    password: &str,
    client_first_bare: &str,
    server_first: &str,
) -> String {
    let mut attrs = server_first.split(',');
    let nonce = &attrs.next().unwrap()[2..];
    let salt = B64.decode(&attrs.next().unwrap()[2..]).unwrap();
    let iterations: u32 = attrs.next().unwrap()[2..].parse().unwrap();
    let without_proof = format!("c={},r={nonce}", B64.encode(gs2_header));
    let auth = format!("{client_first_bare},{server_first},{without_proof}");
    let proof = client_proof(m, password, &salt, iterations, &auth);
    format!("{without_proof},p={proof}")
}

#[test]
fn sha512_round_trip_with_an_escaped_username() {
    let m = ScramMechanism::Sha512;
    let cred = credential(m, "a,b=c", "secret", b"0123456789abcdef");
    let mut server = ScramServer::new(m);
    let bare = "n=a=2Cb=3Dc,r=abc";
    let server_first = server
        .first(
            format!("n,a=a=2Cb=3Dc,{bare}").as_bytes(),
            |u| (u == "a,b=c").then(|| cred.clone()),
            &server_nonce().unwrap(),
        )
        .unwrap();
    let server_first = String::from_utf8(server_first).unwrap();
    // The gs2 header had an authzid: `c=` must carry it.
    let last = client_final(m, "n,a=a=2Cb=3Dc,", "secret", bare, &server_first);
    let (user, _) = server.last(last.as_bytes()).unwrap();
    assert_eq!(user, "a,b=c");
    // The same exchange with the header's authzid dropped from `c=` fails.
    let mut server = ScramServer::new(m);
    let server_first = server
        .first(
            format!("n,a=a=2Cb=3Dc,{bare}").as_bytes(),
            |_| Some(cred.clone()),
            "n",
        )
        .unwrap();
    let last = client_final(
        m,
        "n,,",
        "secret",
        bare,
        &String::from_utf8(server_first).unwrap(),
    );
    assert!(server.last(last.as_bytes()).is_err());
}

#[test]
fn malformed_client_first_messages_are_refused() {
    for bad in [
        "",
        "n,,",
        "n,n=user,r=abc",
        "p=tls-unique,,n=user,r=abc",
        "x,,n=user,r=abc",
        "n,,m=ext,n=user,r=abc",
        "n,,n=,r=abc",
        "n,,n=us=er,r=abc",
        "n,,n=user,r=",
        "n,,n=user,r=a,b",
        "n,,n=user",
        "n,,r=abc,n=user",
        "n,,n=user,r=abc,tokenauth=true",
        "n,b=x,n=user,r=abc",
    ] {
        assert!(parse_client_first(bad).is_err(), "{bad:?}");
    }
    let ok = parse_client_first("y,,n=user,r=abc,ext=1").unwrap();
    assert_eq!(
        (ok.gs2_header, ok.nonce, ok.bare),
        ("y,,", "abc", "n=user,r=abc,ext=1")
    );
}

#[test]
fn malformed_client_final_messages_are_refused() {
    for bad in [
        "",
        "c=biws,r=abc",
        "c=biws,r=abc,p=***",
        "r=abc,c=biws,p=AA==",
        "c=biws,p=AA==",
    ] {
        assert!(parse_client_final(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn non_utf8_messages_fail_without_panicking() {
    let mut server = ScramServer::new(ScramMechanism::Sha512);
    assert!(server.first(&[0xff, 0xfe], |_| None, "n").is_err());
    assert!(server.last(&[0xff]).is_err());
}

#[test]
fn librdkafkas_doubled_client_nonce_is_accepted_as_kafka_does() {
    // librdkafka puts its own nonce in front of the server's combined one again;
    // Kafka's ScramSaslServer only checks that the final nonce ends with it.
    let m = ScramMechanism::Sha512;
    let cred = credential(m, "bob", "secret", b"salt-salt-salt");
    let mut server = ScramServer::new(m);
    let bare = "n=bob,r=cnonce";
    let first = server
        .first(
            format!("n,,{bare}").as_bytes(),
            |_| Some(cred.clone()),
            "snonce",
        )
        .unwrap();
    let first = String::from_utf8(first).unwrap();
    let without_proof = "c=biws,r=cnoncecnoncesnonce";
    let auth = format!("{bare},{first},{without_proof}");
    let proof = client_proof(m, "secret", b"salt-salt-salt", 4096, &auth);
    let (user, _) = server
        .last(format!("{without_proof},p={proof}").as_bytes())
        .unwrap();
    assert_eq!(user, "bob");
}
