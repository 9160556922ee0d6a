//! A small CA and the serving certificate issued from it, for installs without cert-manager (the
//! `certs` subcommand).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};

#[derive(Debug, thiserror::Error)]
#[error("could not generate a certificate: {0}")]
pub struct CertError(#[from] rcgen::Error);

/// A PEM certificate and its PEM (PKCS#8) private key.
#[derive(Debug, Clone)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: Pem,
}

/// What a serving certificate (extended key usage `serverAuth`) is for.
#[derive(Debug, Clone, Default)]
pub struct Leaf {
    pub common_name: String,
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
    /// Days of validity; a year when 0.
    pub valid_days: i64,
}

impl Ca {
    /// A new ECDSA P-256 CA, valid for ten years.
    pub fn generate(common_name: &str) -> Result<Self, CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, 3650);
        let cert = params.self_signed(&key)?;
        let pem = Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        Ok(Self {
            issuer: Issuer::new(params, key),
            pem,
        })
    }

    pub fn pem(&self) -> &Pem {
        &self.pem
    }

    pub fn issue(&self, leaf: &Leaf) -> Result<Pem, CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&leaf.common_name);
        params.subject_alt_names = leaf
            .dns_names
            .iter()
            .map(|d| d.clone().try_into().map(SanType::DnsName))
            .chain(leaf.ips.iter().map(|ip| Ok(SanType::IpAddress(*ip))))
            .collect::<Result<_, _>>()?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        validity(
            &mut params,
            if leaf.valid_days > 0 {
                leaf.valid_days
            } else {
                365
            },
        );
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn validity(params: &mut CertificateParams, days: i64) {
    // Back-dated a little, so a clock that lags does not see a certificate from the future.
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days);
}
