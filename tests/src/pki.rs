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
