//! The x509 auth id of a client certificate: its subject as Java's
//! `X500Principal.getName()` (RFC 2253) spells it, so ACLs written for Java's
//! X509AuthenticationProvider (`x509:CN=client,O=Example,C=US`) match here.
//!
//! Owns: walking a DER Name and formatting it the way `sun.security.x509.AVA` does:
//! RDNs last to first, `,` between them and `+` inside one; the RFC 2253 keywords (CN, C,
//! L, ST, O, OU, STREET, DC, UID), other types as dotted OIDs with the value as `#` and
//! the lowercase hex of its DER encoding; string values with `,=+<>#;"\` escaped by `\`,
//! NUL as `\00`, leading and trailing spaces escaped.
//! Must never: panic on a malformed name (an error instead).

use super::jks::der_tlv;

/// The RFC 2253 keywords Java prints instead of the OID.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// The subject of a DER certificate in RFC 2253 form.
pub fn subject_of_cert(cert_der: &[u8]) -> Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    rfc2253(cert.subject().as_raw())
}

/// A DER `Name` (SEQUENCE OF SET OF AttributeTypeAndValue) in RFC 2253 form.
pub fn rfc2253(name_der: &[u8]) -> Result<String, String> {
    let bad = || "malformed distinguished name".to_string();
    let (tag, mut rdns, _) = der_tlv(name_der).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (tag, mut set, rest) = der_tlv(rdns).ok_or_else(bad)?;
        if tag != 0x31 {
            return Err(bad());
        }
        rdns = rest;
        let mut avas = Vec::new();
        while !set.is_empty() {
            let (tag, ava, rest) = der_tlv(set).ok_or_else(bad)?;
            if tag != 0x30 {
                return Err(bad());
            }
            set = rest;
            let (tag, oid, value_tlv) = der_tlv(ava).ok_or_else(bad)?;
            if tag != 0x06 {
                return Err(bad());
            }
            let (vtag, value, after) = der_tlv(value_tlv).ok_or_else(bad)?;
            if !after.is_empty() {
                return Err(bad());
            }
            avas.push(format_ava(&oid_string(oid)?, vtag, value, value_tlv));
        }
        parts.push(avas.join("+"));
    }
    parts.reverse();
    Ok(parts.join(","))
}

fn format_ava(oid: &str, tag: u8, value: &[u8], tlv: &[u8]) -> String {
    let keyword = KEYWORDS.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
    let text = keyword.and_then(|_| der_string(tag, value));
    match (keyword, text) {
        (Some(k), Some(s)) => format!("{k}={}", escape(&s)),
        _ => {
            // Not a string (or not a keyword type): the DER encoding in hex.
            let mut out = format!("{}=#", keyword.unwrap_or(oid));
            for b in tlv {
                out.push_str(&format!("{b:02x}"));
            }
            out
        }
    }
}

/// The value of the DER string types Java's `isDerString(v, false)` accepts.
fn der_string(tag: u8, v: &[u8]) -> Option<String> {
    match tag {
        0x0C => String::from_utf8(v.to_vec()).ok(),
        // PrintableString, T61String, IA5String, GeneralString: Java reads ISO-8859-1.
        0x13 | 0x14 | 0x16 | 0x1B => Some(v.iter().map(|&b| b as char).collect()),
        0x1E => {
            if !v.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = v
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// AVA.toRFC2253String's escaping.
fn escape(s: &str) -> String {
    const ESCAPEES: &str = ",=+<>#;\"\\";
    let mut chars: Vec<String> = Vec::with_capacity(s.len());
    for c in s.chars() {
        if ESCAPEES.contains(c) {
            chars.push(format!("\\{c}"));
        } else if c == '\0' {
            chars.push("\\00".into());
        } else {
            chars.push(c.to_string());
        }
    }
    let is_space = |t: &String| t == " " || t == "\r";
    let lead = chars.iter().take_while(|t| is_space(t)).count();
    let trail = chars.iter().rev().take_while(|t| is_space(t)).count();
    let n = chars.len();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, t) in chars.iter().enumerate() {
        if i < lead || i >= n - trail {
            out.push('\\');
        }
        out.push_str(t);
    }
    out
}

/// Dotted-decimal form of DER OID content.
fn oid_string(content: &[u8]) -> Result<String, String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for (i, &b) in content.iter().enumerate() {
        if acc > (u64::MAX >> 7) {
            return Err("object identifier arc too large".into());
        }
        acc = (acc << 7) | (b & 0x7F) as u64;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        } else if i + 1 == content.len() {
            return Err("truncated object identifier".into());
        }
    }
    if arcs.is_empty() {
        return Err("empty object identifier".into());
    }
    Ok(arcs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, v: &[u8]) -> Vec<u8> {
        assert!(v.len() < 128);
        let mut o = vec![tag, v.len() as u8];
        o.extend_from_slice(v);
        o
    }

    fn ava(oid: &[u8], tag: u8, v: &[u8]) -> Vec<u8> {
        let mut inner = tlv(0x06, oid);
        inner.extend(tlv(tag, v));
        tlv(0x30, &inner)
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0A];
    const C: &[u8] = &[0x55, 0x04, 0x06];
    const EMAIL: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01];

    fn name(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut seq = Vec::new();
        for rdn in rdns {
            seq.extend(tlv(0x31, &rdn.concat()));
        }
        tlv(0x30, &seq)
    }

    #[test]
    fn rdns_print_last_first_with_keywords() {
        let n = name(&[
            vec![ava(C, 0x13, b"US")],
            vec![ava(O, 0x0C, b"Example")],
            vec![ava(CN, 0x0C, b"client")],
        ]);
        assert_eq!(rfc2253(&n).unwrap(), "CN=client,O=Example,C=US");
    }

    #[test]
    fn unknown_types_print_as_oid_and_hex() {
        let n = name(&[vec![ava(EMAIL, 0x16, b"a@b")], vec![ava(CN, 0x0C, b"x")]]);
        assert_eq!(
            rfc2253(&n).unwrap(),
            "CN=x,1.2.840.113549.1.9.1=#1603614062"
        );
    }

    #[test]
    fn multi_valued_rdns_and_escaping() {
        let n = name(&[vec![ava(CN, 0x0C, b" a,b=c#+\"; "), ava(O, 0x0C, b"o")]]);
        assert_eq!(rfc2253(&n).unwrap(), "CN=\\ a\\,b\\=c\\#\\+\\\"\\;\\ +O=o");
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &[][..],
            &[0x30, 0x05, 0x31],
            &[0x31, 0x00],
            &[0x30, 0x02, 0x31, 0x09],
        ] {
            assert!(rfc2253(bad).is_err());
        }
    }
}
