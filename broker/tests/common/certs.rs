//! Test certificates made at test time with rcgen (ECDSA P-256, ring): a CA, a
//! server certificate for 127.0.0.1/localhost and client certificates with any
//! subject. Nothing here is committed: every key lives in the test's temp dir.
//!
//! Used by the integration tests and, through `#[path]`, by the broker's unit
//! tests of the TLS config, so it depends on nothing else in `common`.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate (chain) and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct PemPair {
    /// The leaf certificate, then the CA that signed it.
    pub chain: String,
    /// PKCS#8.
    pub key: String,
    /// The leaf certificate alone, DER.
    pub der: Vec<u8>,
}

impl PemPair {
    /// Key then chain in one file, as Kafka's `ssl.keystore.location` PEM keystore.
    pub fn keystore(&self) -> String {
        format!("{}{}", self.key, self.chain)
    }
}

/// A test CA.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM (a truststore).
    pub pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("ca key");
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("ca cert");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `127.0.0.1` and `localhost`.
    pub fn server(&self) -> PemPair {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server params");
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(params)
    }

    /// A client certificate whose subject has `subject`'s attributes in this
    /// order (each its own RDN, as `openssl req -subj /C=../O=../CN=..` makes).
    pub fn client(&self, subject: Vec<(DnType, DnValue)>) -> PemPair {
        self.sign(client_params(subject))
    }

    /// A client certificate that expired in 2001.
    pub fn expired_client(&self, subject: Vec<(DnType, DnValue)>) -> PemPair {
        let mut params = client_params(subject);
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> PemPair {
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        PemPair {
            chain: format!("{}{}", cert.pem(), self.pem),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

fn client_params(subject: Vec<(DnType, DnValue)>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    for (ty, value) in subject {
        params.distinguished_name.push(ty, value);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write pem");
    path
}

/// A fresh CA's server keystore (`broker.pem`) and truststore (`ca.pem`) in a temp
/// dir: what every node of the multi-node TLS tests is configured with.
pub struct Pki {
    /// Holds the files; removed on drop.
    pub dir: tempfile::TempDir,
    pub keystore: String,
    pub truststore: String,
}

impl Pki {
    pub fn generate() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("tidewater-pki-")
            .tempdir()
            .expect("pki dir");
        let ca = TestCa::new("Tidewater Test CA");
        let keystore = write(dir.path(), "broker.pem", &ca.server().keystore());
        let truststore = write(dir.path(), "ca.pem", &ca.pem);
        Pki {
            keystore: keystore.display().to_string(),
            truststore: truststore.display().to_string(),
            dir,
        }
    }
}
