//! The test control planes' PKI. The CA and the API server's serving certificate come from the
//! webhook's own `certs` code; what only tests need is here: client certificates whose
//! organisations Kubernetes reads as groups (`system:masters` for an admin), and the
//! ServiceAccount token signing key pair.

use anyhow::Result;
use extcluster_webhook::certs::{self, Leaf};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};

pub use extcluster_webhook::certs::Pem;

pub struct Ca {
    ca: certs::Ca,
    /// The same CA, to sign what the webhook's code does not issue.
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn generate(common_name: &str) -> Result<Self> {
        let ca = certs::Ca::generate(common_name)?;
        let key = KeyPair::from_pem(&ca.pem().key)?;
        let issuer = Issuer::from_ca_cert_pem(&ca.pem().cert, key)?;
        Ok(Self { ca, issuer })
    }

    pub fn pem(&self) -> &Pem {
        self.ca.pem()
    }

    /// A server certificate for these DNS names and IP addresses.
    pub fn serving(&self, common_name: &str, dns_names: &[&str], ips: &[IpAddr]) -> Result<Pem> {
        Ok(self.ca.issue(&Leaf {
            common_name: common_name.to_owned(),
            dns_names: dns_names.iter().map(|d| (*d).to_owned()).collect(),
            ips: ips.to_vec(),
            ..Leaf::default()
        })?)
    }

    /// A client certificate, valid for a year: Kubernetes reads the user from the common name and
    /// the groups from the organisations.
    pub fn client(&self, common_name: &str, organizations: &[&str]) -> Result<Pem> {
        client_signed_by(
            &self.issuer,
            common_name,
            organizations,
            Duration::days(365),
        )
    }
}

/// A client certificate from the CA in `ca` (certificate and key), valid for `valid_for`.
pub fn client_from(
    ca: &Pem,
    common_name: &str,
    organizations: &[&str],
    valid_for: Duration,
) -> Result<Pem> {
    let issuer = Issuer::from_ca_cert_pem(&ca.cert, KeyPair::from_pem(&ca.key)?)?;
    client_signed_by(&issuer, common_name, organizations, valid_for)
}

fn client_signed_by(
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    organizations: &[&str],
    valid_for: Duration,
) -> Result<Pem> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    for o in organizations {
        dn.push(DnType::OrganizationName, *o);
    }
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    // From an hour ago (a clock that lags must not see it from the future).
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + valid_for;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A bare ECDSA P-256 key pair as (PKCS#8 private key PEM, public key PEM).
pub fn key_pair_pem() -> Result<(String, String)> {
    let key = KeyPair::generate()?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

/// A client certificate made the way the classic "create a Kubernetes user" recipe makes one:
/// `openssl genrsa`, `openssl req -new`, `openssl x509 -req` with no `-extfile`. On OpenSSL 3.0
/// that is an X.509 v1 certificate (no extensions), which kubectl and kube-apiserver accept.
pub fn openssl_recipe_client(ca: &Pem, common_name: &str, organization: &str) -> Result<Pem> {
    let dir = tempfile::tempdir()?;
    let file = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(file("ca.crt"), &ca.cert)?;
    std::fs::write(file("ca.key"), &ca.key)?;
    let subject = format!("/CN={common_name}/O={organization}");
    let steps: [&[&str]; 3] = [
        &["genrsa", "-out", &file("user.key"), "2048"],
        &[
            "req",
            "-new",
            "-key",
            &file("user.key"),
            "-subj",
            &subject,
            "-out",
            &file("user.csr"),
        ],
        &[
            "x509",
            "-req",
            "-in",
            &file("user.csr"),
            "-CA",
            &file("ca.crt"),
            "-CAkey",
            &file("ca.key"),
            "-CAcreateserial",
            "-out",
            &file("user.crt"),
            "-days",
            "2",
        ],
    ];
    for args in steps {
        let out = std::process::Command::new("openssl").args(args).output()?;
        anyhow::ensure!(
            out.status.success(),
            "openssl {}: {}",
            args[0],
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", &file("user.crt")])
        .output()?;
    anyhow::ensure!(
        String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"),
        "this openssl did not make an X.509 v1 certificate"
    );
    Ok(Pem {
        cert: std::fs::read_to_string(file("user.crt"))?,
        key: std::fs::read_to_string(file("user.key"))?,
    })
}
