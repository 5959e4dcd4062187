//! Key and trust stores as Java's X509Util loads them: JKS, PKCS12 and PEM files named by
//! `ssl.keyStore.*` / `ssl.trustStore.*`, the type from `*.type` or else the file name's
//! extension (KeyStoreFileType.fromPropertyValueOrFileName).
//!
//! Owns: reading those files into rustls' certificate and key types; telling a wrong
//! password, a missing file and an unreadable format apart in the error.
//! Must never: panic on a corrupt or hostile file; log a password.
//!
//! Like Java 17 (`keystore.type.compat`), a store declared JKS that is really PKCS12, or
//! the other way round, is read by what its bytes are. BCFKS (Bouncy Castle FIPS) is not
//! supported and says so.

use super::jks::{self, JCEKS_MAGIC, JKS_MAGIC, JksEntry};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};

/// Largest store file read (real ones are a few KiB).
const MAX_STORE_BYTES: u64 = 16 * 1024 * 1024;

/// Where a store is and how to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    pub location: PathBuf,
    /// The store password (from `*.password`, or the file `*.passwordPath` names).
    pub password: String,
    /// `*.type` as written (JKS, PEM, PKCS12, BCFKS; any case), if set.
    pub declared_type: Option<String>,
}

/// The file formats of KeyStoreFileType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    Jks,
    Pem,
    Pkcs12,
    Bcfks,
}

impl StoreType {
    /// KeyStoreFileType.fromPropertyValueOrFileName.
    pub fn resolve(declared: Option<&str>, location: &Path) -> Result<StoreType, String> {
        if let Some(t) = declared.filter(|t| !t.is_empty()) {
            return match t.to_ascii_uppercase().as_str() {
                "JKS" => Ok(StoreType::Jks),
                "PEM" => Ok(StoreType::Pem),
                "PKCS12" => Ok(StoreType::Pkcs12),
                "BCFKS" => Ok(StoreType::Bcfks),
                _ => Err(format!(
                    "unknown key store type {t:?} (JKS, PEM, PKCS12 or BCFKS)"
                )),
            };
        }
        let name = location.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".jks") {
            Ok(StoreType::Jks)
        } else if name.ends_with(".pem") {
            Ok(StoreType::Pem)
        } else if name.ends_with(".p12") || name.ends_with(".pfx") {
            Ok(StoreType::Pkcs12)
        } else if name.ends_with(".bcfks") {
            Ok(StoreType::Bcfks)
        } else {
            Err(format!(
                "unable to auto-detect store file type from file name: {}",
                location.display()
            ))
        }
    }
}

/// A server's identity: its certificate chain (leaf first) and private key.
#[derive(Debug)]
pub struct KeyMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn read(spec: &StoreSpec) -> Result<Vec<u8>, String> {
    let path = &spec.location;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_STORE_BYTES {
        return Err(format!(
            "{}: larger than {MAX_STORE_BYTES} bytes",
            path.display()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// What the bytes of a binary store are, for JKS/PKCS12 files declared either way.
fn binary_kind(data: &[u8], declared: StoreType) -> Result<StoreType, String> {
    if data.starts_with(&JKS_MAGIC) {
        Ok(StoreType::Jks)
    } else if data.starts_with(&JCEKS_MAGIC) {
        Err("JCEKS key stores are not supported (convert with keytool to PKCS12)".into())
    } else if data.first() == Some(&0x30) {
        Ok(StoreType::Pkcs12)
    } else {
        Err(format!("not a {declared:?} file"))
    }
}

/// Load the key store: the first private key entry and its chain.
pub fn load_key_store(spec: &StoreSpec) -> Result<KeyMaterial, String> {
    let kind = StoreType::resolve(spec.declared_type.as_deref(), &spec.location)?;
    let data = read(spec)?;
    key_store_from_bytes(kind, &data, &spec.password)
        .map_err(|e| format!("key store {}: {e}", spec.location.display()))
}

/// A key store's bytes as `kind` (JKS and PKCS12 read by what the bytes are).
pub fn key_store_from_bytes(
    kind: StoreType,
    data: &[u8],
    password: &str,
) -> Result<KeyMaterial, String> {
    match kind {
        StoreType::Bcfks => Err("BCFKS key stores are not supported".into()),
        StoreType::Pem => pem_key_store(data, password),
        StoreType::Jks | StoreType::Pkcs12 => match binary_kind(data, kind)? {
            StoreType::Jks => {
                for e in jks::parse(data, password)? {
                    if let JksEntry::PrivateKey {
                        key_pkcs8, chain, ..
                    } = e
                    {
                        return material(key_pkcs8, chain);
                    }
                }
                Err("no private key entry".into())
            }
            _ => {
                let store = pkcs12(data, password)?;
                let Some((_, chain)) = store.private_key_chain() else {
                    return Err("no private key entry".into());
                };
                material(
                    chain.key().as_der().to_vec(),
                    chain.certs().iter().map(|c| c.as_der().to_vec()).collect(),
                )
            }
        },
    }
}

/// Load the trust store: its trusted certificates (as Java's PKIXParameters(KeyStore),
/// which takes certificate entries, not key entries).
pub fn load_trust_store(spec: &StoreSpec) -> Result<Vec<CertificateDer<'static>>, String> {
    let kind = StoreType::resolve(spec.declared_type.as_deref(), &spec.location)?;
    let data = read(spec)?;
    trust_store_from_bytes(kind, &data, &spec.password)
        .map_err(|e| format!("trust store {}: {e}", spec.location.display()))
}

/// A trust store's bytes as `kind`.
pub fn trust_store_from_bytes(
    kind: StoreType,
    data: &[u8],
    password: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = match kind {
        StoreType::Bcfks => return Err("BCFKS trust stores are not supported".into()),
        StoreType::Pem => pem_certs(data)?,
        StoreType::Jks | StoreType::Pkcs12 => match binary_kind(data, kind)? {
            StoreType::Jks => jks::parse(data, password)?
                .into_iter()
                .filter_map(|e| match e {
                    JksEntry::TrustedCert { cert, .. } => Some(CertificateDer::from(cert)),
                    JksEntry::PrivateKey { .. } => None,
                })
                .collect(),
            _ => pkcs12(data, password)?
                .entries()
                .filter_map(|(_, e)| match e {
                    p12_keystore::KeyStoreEntry::Certificate(c) => {
                        Some(CertificateDer::from(c.as_der().to_vec()))
                    }
                    _ => None,
                })
                .collect(),
        },
    };
    if certs.is_empty() {
        return Err("holds no trusted certificate".into());
    }
    Ok(certs)
}

fn pkcs12(data: &[u8], password: &str) -> Result<p12_keystore::KeyStore, String> {
    p12_keystore::KeyStore::from_pkcs12(data, password, p12_keystore::Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| match e {
            p12_keystore::error::Error::MacError(_) => {
                "keystore password was incorrect (PKCS12 integrity check failed)".to_string()
            }
            e => format!("unreadable PKCS12 file: {e}"),
        })
}

fn material(key_pkcs8: Vec<u8>, chain: Vec<Vec<u8>>) -> Result<KeyMaterial, String> {
    if chain.is_empty() {
        return Err("the private key entry has no certificate".into());
    }
    Ok(KeyMaterial {
        chain: chain.into_iter().map(CertificateDer::from).collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8)),
    })
}

/// Java's PEM key store: a private key (PKCS#8, encrypted with the store password when
/// one is given) and its certificate chain in one file.
fn pem_key_store(data: &[u8], password: &str) -> Result<KeyMaterial, String> {
    let chain = pem_certs(data)?;
    let text = std::str::from_utf8(data).map_err(|_| "PEM file is not text".to_string())?;
    if let Some(der) = pem_block(text, "ENCRYPTED PRIVATE KEY")? {
        let enc = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| format!("malformed encrypted private key: {e}"))?;
        let doc = enc
            .decrypt(password.as_bytes())
            .map_err(|_| "cannot decrypt the private key: wrong password?".to_string())?;
        return Ok(KeyMaterial {
            chain,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec())),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(data)
        .map_err(|_| "PEM file holds no private key".to_string())?;
    Ok(KeyMaterial { chain, key })
}

fn pem_certs(data: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(data).collect();
    let certs = certs.map_err(|e| format!("malformed PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("PEM file holds no certificate".into());
    }
    Ok(certs)
}

/// The DER of the first `-----BEGIN {label}-----` block.
fn pem_block(text: &str, label: &str) -> Result<Option<Vec<u8>>, String> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(start) = text.find(&begin) else {
        return Ok(None);
    };
    let body = &text[start + begin.len()..];
    let stop = body
        .find(&end)
        .ok_or_else(|| format!("unterminated {label} block"))?;
    let b64: String = body[..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(Some)
        .map_err(|_| format!("malformed base64 in {label} block"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_from_property_or_extension() {
        let p = Path::new("/x/keys.P12");
        assert_eq!(StoreType::resolve(None, p), Ok(StoreType::Pkcs12));
        assert_eq!(StoreType::resolve(Some("jks"), p), Ok(StoreType::Jks));
        assert_eq!(
            StoreType::resolve(Some(""), Path::new("a.pem")),
            Ok(StoreType::Pem)
        );
        assert!(StoreType::resolve(None, Path::new("a.key")).is_err());
        assert!(StoreType::resolve(Some("JCEKS"), p).is_err());
    }

    #[test]
    fn garbage_stores_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("a.jks", &b"\xFE\xED\xFE\xED\x00"[..]),
            ("a.p12", &b"\x30\x82\xff\xff"[..]),
            (
                "a.pem",
                &b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"[..],
            ),
            ("b.pem", &b""[..]),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let spec = StoreSpec {
                location: path,
                password: "pw".into(),
                declared_type: None,
            };
            assert!(load_key_store(&spec).is_err(), "{name}");
            assert!(load_trust_store(&spec).is_err(), "{name}");
        }
        let missing = StoreSpec {
            location: dir.path().join("none.jks"),
            password: String::new(),
            declared_type: None,
        };
        let e = load_key_store(&missing).unwrap_err();
        assert!(e.contains("none.jks"), "{e}");
    }
}
