//! Server certificate fingerprints: SHA-256 of the DER certificate, in kopia's form.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::Error;

/// A SHA-256 certificate fingerprint, the pin of a kopia server connection.
///
/// Kopia stores and compares it as 64 lowercase hex characters. People paste
/// other forms too (`AB:CD:…` from openssl, `sha256:` prefixes, spaces,
/// uppercase); [`Fingerprint::parse`] accepts all of them and canonicalises, so
/// the stored value always works with kopia.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Fingerprint of a certificate given as DER bytes (as sent in the TLS handshake).
    pub fn of_der(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Parses user input: 64 hex digits, optionally prefixed `sha256:` / `SHA256=`,
    /// with `:`, spaces or `-` between digits, any case.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        let body = ["sha256:", "sha256=", "sha-256:", "sha-256="]
            .iter()
            .find_map(|p| lower.strip_prefix(p))
            .unwrap_or(&lower);
        let hex_digits: String = body
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-' | '\t'))
            .collect();
        let bad = |why: &str| {
            Error::InvalidInput(format!(
                "invalid server certificate fingerprint {t:?}: {why}; expected the SHA-256 of the \
                 server certificate as 64 hex characters (colons and a `sha256:` prefix are allowed)"
            ))
        };
        if hex_digits.len() != 64 {
            return Err(bad(&format!(
                "{} hex digits instead of 64",
                hex_digits.len()
            )));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(&hex_digits, &mut out).map_err(|_| bad("not hexadecimal"))?;
        Ok(Fingerprint(out))
    }

    /// The raw 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    /// Kopia's form: 64 lowercase hex characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Fingerprint::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "48537cce585fed39fb26c639eb8ef38143592ba4b4e7677a84a31916398d40f7";

    #[test]
    fn canonical_form_round_trips() {
        assert_eq!(Fingerprint::parse(FP).unwrap().to_string(), FP);
    }

    #[test]
    fn accepts_pasted_forms() {
        let upper_colons = FP
            .to_ascii_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        for input in [
            FP.to_ascii_uppercase(),
            upper_colons.clone(),
            format!("sha256:{FP}"),
            format!("SHA256:{upper_colons}"),
            format!("sha256={upper_colons}"),
            format!("  {FP}\n"),
            FP.as_bytes()
                .chunks(8)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(" "),
        ] {
            assert_eq!(
                Fingerprint::parse(&input).unwrap().to_string(),
                FP,
                "{input:?}"
            );
        }
    }

    #[test]
    fn rejects_wrong_lengths_and_garbage() {
        for input in [
            "",
            &FP[..63],
            &FP[..62],
            &format!("{FP}00"),
            &format!("{}zz", &FP[..62]),
            "sha1:0123",
            "md5:48537cce585fed39fb26c639eb8ef38143592ba4b4e7677a84a31916398d40f7",
        ] {
            let e = Fingerprint::parse(input).unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{input:?}: {e:?}");
            assert!(e.to_string().contains("fingerprint"), "{e}");
        }
    }

    #[test]
    fn of_der_is_sha256() {
        // sha256("") is well known.
        assert_eq!(
            Fingerprint::of_der(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
