//! Java's JKS key store format (`keytool -storetype JKS`), read only.
//!
//! Owns: parsing a JKS file into its private-key entries (key decrypted with Sun's "JKS
//! key protector") and trusted-certificate entries, and checking the store's integrity
//! digest against the password, as `sun.security.provider.JavaKeyStore` does.
//! Must never: panic or allocate without bound on a malformed file (every length is
//! checked against what is left), or accept a store whose digest does not match.
//!
//! Layout (big-endian): magic 0xFEEDFEED, version 1 or 2, entry count; per entry a tag
//! (1 = private key, 2 = trusted certificate), an alias (Java modified UTF-8 with a u16
//! length), a u64 date, then for a key the protected key (u32 length + DER
//! EncryptedPrivateKeyInfo) and its chain (u32 count of u16-named type + u32-length DER
//! certificates), for a trusted certificate one such certificate. The file ends with
//! SHA-1(password as UTF-16BE || "Mighty Aphrodite" || everything before the digest).

use sha1::{Digest, Sha1};

/// The magic number every JKS file starts with.
pub const JKS_MAGIC: [u8; 4] = [0xFE, 0xED, 0xFE, 0xED];
/// JCEKS, the other Sun format (not supported: its keys are PBE/3DES-protected).
pub const JCEKS_MAGIC: [u8; 4] = [0xCE, 0xCE, 0xCE, 0xCE];
/// The OID of Sun's JKS key protector: 1.3.6.1.4.1.42.2.17.1.1, DER-encoded content.
const KEY_PROTECTOR_OID: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x2A, 0x02, 0x11, 0x01, 0x01];
/// Most entries a store may hold (a real one holds a handful).
const MAX_ENTRIES: u32 = 10_000;

/// One entry of a JKS store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JksEntry {
    /// A private key (PKCS#8 DER, decrypted) with its certificate chain (DER, leaf first).
    PrivateKey {
        alias: String,
        key_pkcs8: Vec<u8>,
        chain: Vec<Vec<u8>>,
    },
    /// A trusted certificate (DER).
    TrustedCert { alias: String, cert: Vec<u8> },
}

/// Parse a JKS store. `password` checks the integrity digest and decrypts the keys (Java
/// uses the store password for the keys too, as ZooKeeper's key manager does).
pub fn parse(data: &[u8], password: &str) -> Result<Vec<JksEntry>, String> {
    if data.len() < 20 + 12 {
        return Err("JKS file too short".into());
    }
    let (body, digest) = data.split_at(data.len() - 20);
    let pw = utf16be(password);
    let mut h = Sha1::new();
    h.update(&pw);
    h.update(b"Mighty Aphrodite");
    h.update(body);
    if h.finalize().as_slice() != digest {
        return Err("keystore password was incorrect (JKS integrity check failed)".into());
    }
    let mut r = Cursor { data: body, at: 0 };
    if r.bytes(4)? != JKS_MAGIC {
        return Err("not a JKS file (bad magic)".into());
    }
    let version = r.u32()?;
    if version != 1 && version != 2 {
        return Err(format!("unsupported JKS version {version}"));
    }
    let count = r.u32()?;
    if count > MAX_ENTRIES {
        return Err(format!("JKS file claims {count} entries"));
    }
    let mut entries = Vec::new();
    for _ in 0..count {
        let tag = r.u32()?;
        let alias = r.utf()?;
        let _date = r.u64()?;
        match tag {
            1 => {
                let len = r.u32()? as usize;
                let protected = r.bytes(len)?;
                let key_pkcs8 = unprotect_key(protected, &pw)?;
                let n = r.u32()?;
                if n > MAX_ENTRIES {
                    return Err(format!("JKS key entry {alias:?} claims {n} certificates"));
                }
                let mut chain = Vec::new();
                for _ in 0..n {
                    chain.push(read_cert(&mut r, version)?);
                }
                entries.push(JksEntry::PrivateKey {
                    alias,
                    key_pkcs8,
                    chain,
                });
            }
            2 => {
                let cert = read_cert(&mut r, version)?;
                entries.push(JksEntry::TrustedCert { alias, cert });
            }
            t => return Err(format!("JKS entry {alias:?} has unknown tag {t}")),
        }
    }
    if r.at != body.len() {
        return Err("JKS file has trailing bytes before its digest".into());
    }
    Ok(entries)
}

fn read_cert(r: &mut Cursor<'_>, version: u32) -> Result<Vec<u8>, String> {
    if version == 2 {
        let kind = r.utf()?;
        if kind != "X.509" {
            return Err(format!("unsupported certificate type {kind:?} in JKS file"));
        }
    }
    let len = r.u32()? as usize;
    Ok(r.bytes(len)?.to_vec())
}

/// Decrypt a key protected by Sun's key protector: the DER EncryptedPrivateKeyInfo holds
/// salt(20) || key XOR keystream || SHA-1(password || key), the keystream being
/// SHA-1(password || salt), then SHA-1(password || previous block), ...
fn unprotect_key(der: &[u8], pw: &[u8]) -> Result<Vec<u8>, String> {
    let protected = encrypted_key_info_data(der)?;
    if protected.len() < 40 {
        return Err("JKS protected key too short".into());
    }
    let (salt, rest) = protected.split_at(20);
    let (enc, check) = rest.split_at(rest.len() - 20);
    let mut key = Vec::with_capacity(enc.len());
    let mut block = salt.to_vec();
    for chunk in enc.chunks(20) {
        let mut h = Sha1::new();
        h.update(pw);
        h.update(&block);
        block = h.finalize().to_vec();
        key.extend(chunk.iter().zip(&block).map(|(a, b)| a ^ b));
    }
    let mut h = Sha1::new();
    h.update(pw);
    h.update(&key);
    if h.finalize().as_slice() != check {
        return Err("cannot recover the JKS private key: wrong key password".into());
    }
    Ok(key)
}

/// The encrypted data of an EncryptedPrivateKeyInfo that uses the JKS key protector:
/// SEQUENCE { SEQUENCE { OID, [NULL] }, OCTET STRING }.
fn encrypted_key_info_data(der: &[u8]) -> Result<&[u8], String> {
    let bad = || "malformed JKS protected key".to_string();
    let (tag, outer, _) = der_tlv(der).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, alg, rest) = der_tlv(outer).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, oid, _) = der_tlv(alg).ok_or_else(bad)?;
    if tag != 0x06 {
        return Err(bad());
    }
    if oid != KEY_PROTECTOR_OID {
        return Err("JKS private key uses an unsupported protection algorithm".into());
    }
    let (tag, data, _) = der_tlv(rest).ok_or_else(bad)?;
    if tag != 0x04 {
        return Err(bad());
    }
    Ok(data)
}

/// One DER tag-length-value: (tag, value, what follows). None if malformed.
pub(crate) fn der_tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *d.first()?;
    let first = *d.get(1)?;
    let (len, head) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7F) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *d.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    if end > d.len() {
        return None;
    }
    Some((tag, &d[head..end], &d[end..]))
}

/// The integrity digest a JKS body needs under `password` (for tools and the fuzzer,
/// which must get past the check to reach the parser).
pub fn store_digest(body: &[u8], password: &str) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(utf16be(password));
    h.update(b"Mighty Aphrodite");
    h.update(body);
    h.finalize().into()
}

/// A Java password as the key protector and digest see it: UTF-16BE code units.
fn utf16be(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or("JKS file truncated")?;
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(((self.u32()? as u64) << 32) | self.u32()? as u64)
    }
    /// Java's DataOutput.writeUTF: u16 length, then modified UTF-8 (a NUL is two bytes,
    /// which from_utf8 refuses; aliases never hold one).
    fn utf(&mut self) -> Result<String, String> {
        let b = self.bytes(2)?;
        let n = u16::from_be_bytes([b[0], b[1]]) as usize;
        let s = self.bytes(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| "JKS alias is not valid UTF-8".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a JKS file the way JavaKeyStore.engineStore lays it out.
    fn build(entries: &[JksEntry], password: &str) -> Vec<u8> {
        let pw = utf16be(password);
        let mut out = Vec::new();
        out.extend_from_slice(&JKS_MAGIC);
        out.extend_from_slice(&2u32.to_be_bytes());
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        let utf = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        let cert = |out: &mut Vec<u8>, c: &[u8]| {
            utf(out, "X.509");
            out.extend_from_slice(&(c.len() as u32).to_be_bytes());
            out.extend_from_slice(c);
        };
        for e in entries {
            match e {
                JksEntry::PrivateKey {
                    alias,
                    key_pkcs8,
                    chain,
                } => {
                    out.extend_from_slice(&1u32.to_be_bytes());
                    utf(&mut out, alias);
                    out.extend_from_slice(&0u64.to_be_bytes());
                    let protected = protect(key_pkcs8, &pw);
                    out.extend_from_slice(&(protected.len() as u32).to_be_bytes());
                    out.extend_from_slice(&protected);
                    out.extend_from_slice(&(chain.len() as u32).to_be_bytes());
                    for c in chain {
                        cert(&mut out, c);
                    }
                }
                JksEntry::TrustedCert { alias, cert: c } => {
                    out.extend_from_slice(&2u32.to_be_bytes());
                    utf(&mut out, alias);
                    out.extend_from_slice(&0u64.to_be_bytes());
                    cert(&mut out, c);
                }
            }
        }
        let mut h = Sha1::new();
        h.update(&pw);
        h.update(b"Mighty Aphrodite");
        h.update(&out);
        let d = h.finalize();
        out.extend_from_slice(&d);
        out
    }

    fn protect(key: &[u8], pw: &[u8]) -> Vec<u8> {
        let salt = [7u8; 20];
        let mut data = salt.to_vec();
        let mut block = salt.to_vec();
        for chunk in key.chunks(20) {
            let mut h = Sha1::new();
            h.update(pw);
            h.update(&block);
            block = h.finalize().to_vec();
            data.extend(chunk.iter().zip(&block).map(|(a, b)| a ^ b));
        }
        let mut h = Sha1::new();
        h.update(pw);
        h.update(key);
        data.extend_from_slice(&h.finalize());
        let mut alg = vec![0x06, KEY_PROTECTOR_OID.len() as u8];
        alg.extend_from_slice(KEY_PROTECTOR_OID);
        alg.extend_from_slice(&[0x05, 0x00]);
        let mut inner = vec![0x30, alg.len() as u8];
        inner.extend_from_slice(&alg);
        inner.push(0x04);
        push_len(&mut inner, data.len());
        inner.extend_from_slice(&data);
        let mut outer = vec![0x30];
        push_len(&mut outer, inner.len());
        outer.extend_from_slice(&inner);
        outer
    }

    fn push_len(out: &mut Vec<u8>, n: usize) {
        if n < 0x80 {
            out.push(n as u8);
        } else {
            out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
        }
    }

    fn sample() -> Vec<JksEntry> {
        vec![
            JksEntry::PrivateKey {
                alias: "server".into(),
                key_pkcs8: (0..=200u8).collect(),
                chain: vec![vec![1, 2, 3], vec![4, 5]],
            },
            JksEntry::TrustedCert {
                alias: "ca".into(),
                cert: vec![9; 300],
            },
        ]
    }

    #[test]
    fn round_trip_of_keys_and_trusted_certs() {
        let file = build(&sample(), "secret");
        assert_eq!(parse(&file, "secret").unwrap(), sample());
    }

    #[test]
    fn wrong_password_is_refused() {
        let file = build(&sample(), "secret");
        let e = parse(&file, "other").unwrap_err();
        assert!(e.contains("password was incorrect"), "{e}");
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let file = build(&sample(), "pw");
        for n in 0..file.len() {
            assert!(parse(&file[..n], "pw").is_err());
        }
        // A flipped byte fails the digest; with the digest recomputed, parsing must still
        // refuse or accept cleanly.
        for i in 0..file.len() - 20 {
            let mut f = file.clone();
            f[i] ^= 0xFF;
            assert!(parse(&f, "pw").is_err());
            let body = &mut f[..file.len() - 20].to_vec();
            let mut h = Sha1::new();
            h.update(utf16be("pw"));
            h.update(b"Mighty Aphrodite");
            h.update(&body[..]);
            body.extend_from_slice(&h.finalize());
            let _ = parse(body, "pw");
        }
    }
}
