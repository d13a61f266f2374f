//! Content IDs: `[prefix] hex(hash)`, as in kopia's `repo/content/index/id.go`.
//!
//! A content ID names the plaintext bytes of one content by their keyed hash.
//! The optional one-letter prefix (`g`..`z`) tells metadata apart from file
//! data (`k` directories, `x` indirect indexes, `m` manifests).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Longest hash kopia produces (bytes).
pub const MAX_HASH_LEN: usize = 32;

/// Why a string or byte slice is not a valid content ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The prefix is not a single letter in `g`..`z`.
    #[error("invalid content ID prefix {0:?}: must be one letter g..z")]
    BadPrefix(char),
    /// The hash part is not hexadecimal.
    #[error("invalid content ID {0:?}: hash is not hexadecimal")]
    NotHex(String),
    /// The hash is empty or longer than 32 bytes.
    #[error("invalid content ID {id:?}: hash length {len} bytes is outside 1..=32")]
    BadLength {
        /// The offending input.
        id: String,
        /// Decoded hash length.
        len: usize,
    },
    /// An object ID does not follow `*"I" ["Z"] ["D"] content-id`.
    #[error("invalid object ID {id:?}: {reason}")]
    BadObjectId {
        /// The offending input.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A content ID: an optional prefix letter and a 1..=32 byte hash.
///
/// `Copy` and fixed-size so that indexes with millions of entries stay cheap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentId {
    prefix: u8,
    len: u8,
    hash: [u8; MAX_HASH_LEN],
}

impl ContentId {
    /// Builds an ID from a prefix (`None` or `g`..`z`) and a hash of 1..=32 bytes.
    pub fn new(prefix: Option<u8>, hash: &[u8]) -> Result<Self, IdError> {
        if let Some(p) = prefix {
            check_prefix(p)?;
        }
        if hash.is_empty() || hash.len() > MAX_HASH_LEN {
            return Err(IdError::BadLength {
                id: hex::encode(hash),
                len: hash.len(),
            });
        }
        let mut h = [0u8; MAX_HASH_LEN];
        h[..hash.len()].copy_from_slice(hash);
        Ok(ContentId {
            prefix: prefix.unwrap_or(0),
            len: hash.len() as u8,
            hash: h,
        })
    }

    /// The prefix letter, if any.
    pub fn prefix(&self) -> Option<u8> {
        (self.prefix != 0).then_some(self.prefix)
    }

    /// The hash bytes.
    pub fn hash(&self) -> &[u8] {
        &self.hash[..self.len as usize]
    }

    /// True for metadata contents (any prefix); they live in `q` packs.
    pub fn has_prefix(&self) -> bool {
        self.prefix != 0
    }

    /// Binary form used in index blobs: one prefix byte (0 when absent) then the hash.
    pub fn to_binary(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(1 + self.len as usize);
        v.push(self.prefix);
        v.extend_from_slice(self.hash());
        v
    }

    /// Parses the binary form written by [`ContentId::to_binary`].
    pub fn from_binary(b: &[u8]) -> Result<Self, IdError> {
        match b.split_first() {
            None => Err(IdError::BadLength {
                id: String::new(),
                len: 0,
            }),
            Some((&0, hash)) => ContentId::new(None, hash),
            Some((&p, hash)) => ContentId::new(Some(p), hash),
        }
    }

    /// The 16-byte IV kopia derives from a content ID: the last 16 bytes of the hash
    /// (left-padded with zeros if the hash is shorter).
    pub fn iv(&self) -> [u8; 16] {
        let h = self.hash();
        let mut iv = [0u8; 16];
        if h.len() >= 16 {
            iv.copy_from_slice(&h[h.len() - 16..]);
        } else {
            iv[16 - h.len()..].copy_from_slice(h);
        }
        iv
    }
}

fn check_prefix(p: u8) -> Result<(), IdError> {
    if (b'g'..=b'z').contains(&p) {
        Ok(())
    } else {
        Err(IdError::BadPrefix(p as char))
    }
}

impl Ord for ContentId {
    /// Kopia's order: unprefixed before prefixed, then by prefix, then bytewise by hash.
    fn cmp(&self, other: &Self) -> Ordering {
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| self.hash().cmp(other.hash()))
    }
}

impl PartialOrd for ContentId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix != 0 {
            write!(f, "{}", self.prefix as char)?;
        }
        for b in self.hash() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentId({self})")
    }
}

impl FromStr for ContentId {
    type Err = IdError;

    /// Parses `[prefix]hex`: odd length means the first character is a prefix.
    /// Upper-case hex is accepted; [`fmt::Display`] always writes lower case.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let (prefix, hexpart) = if s.len() % 2 == 1 {
            let c = s.chars().next().unwrap_or('\0');
            if !c.is_ascii() {
                return Err(IdError::BadPrefix(c));
            }
            check_prefix(c as u8)?;
            (Some(c as u8), &s[1..])
        } else {
            (None, s)
        };
        let hash = hex::decode(hexpart).map_err(|_| IdError::NotHex(s.to_string()))?;
        if hash.is_empty() || hash.len() > MAX_HASH_LEN {
            return Err(IdError::BadLength {
                id: s.to_string(),
                len: hash.len(),
            });
        }
        ContentId::new(prefix, &hash)
    }
}

impl serde::Serialize for ContentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ContentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An object ID: `*"I" ["Z"] ["D"] content-id`, as in kopia's `repo/object/objectid.go`.
///
/// Each leading `I` is one level of indirection (the rest names an index object);
/// `Z` marks a content holding a compressed stream (legacy object-level compression);
/// `D` is a legacy "direct" marker that is accepted and dropped. Unlike kopia, the
/// empty object ID is not representable: APIs that may have none use `Option`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectId {
    content: ContentId,
    indirection: u8,
    compressed: bool,
}

impl ObjectId {
    /// The ID of a direct object stored in one content.
    pub fn direct(content: ContentId) -> Self {
        ObjectId {
            content,
            indirection: 0,
            compressed: false,
        }
    }

    /// The `Z` ID of a direct object whose content is a compressed stream (legacy).
    pub fn compressed(content: ContentId) -> Self {
        ObjectId {
            content,
            indirection: 0,
            compressed: true,
        }
    }

    /// The ID of an object whose index object is `index` (one more leading `I`).
    ///
    /// Fails when `index` is `Z`-marked (never valid under an `I`) or already has 255 levels.
    pub fn indirect(index: ObjectId) -> Result<Self, IdError> {
        if index.compressed {
            return Err(IdError::BadObjectId {
                id: format!("I{index}"),
                reason: "compression and indirection are mutually exclusive",
            });
        }
        let indirection = index
            .indirection
            .checked_add(1)
            .ok_or_else(|| IdError::BadObjectId {
                id: format!("I{index}"),
                reason: "more than 255 levels of indirection",
            })?;
        Ok(ObjectId {
            indirection,
            ..index
        })
    }

    /// Number of leading `I`s (0 for a direct object).
    pub fn indirection(&self) -> u8 {
        self.indirection
    }

    /// True when the object is described by an index object.
    pub fn is_indirect(&self) -> bool {
        self.indirection > 0
    }

    /// True for a `Z` (object-level compressed) direct object.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The content ID at the bottom of the ID (for indirect objects: of the innermost index).
    pub fn content_id(&self) -> ContentId {
        self.content
    }

    /// For an indirect object, the ID of its index object (one `I` removed).
    pub fn index_object_id(&self) -> Option<ObjectId> {
        (self.indirection > 0).then(|| ObjectId {
            indirection: self.indirection - 1,
            ..*self
        })
    }

    /// For a direct object, its content and whether it is `Z`-compressed.
    pub fn direct_content(&self) -> Option<(ContentId, bool)> {
        (self.indirection == 0).then_some((self.content, self.compressed))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for _ in 0..self.indirection {
            f.write_str("I")?;
        }
        if self.compressed {
            f.write_str("Z")?;
        }
        fmt::Display::fmt(&self.content, f)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

impl FromStr for ObjectId {
    type Err = IdError;

    /// Parses `*"I" ["Z"] ["D"] content-id`; rejects `I` with `Z`, an empty or
    /// malformed content ID, and more than 255 `I`s.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = |reason| IdError::BadObjectId {
            id: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(bad("empty object ID"));
        }
        let rest = s.trim_start_matches('I');
        let indirection = u8::try_from(s.len() - rest.len())
            .map_err(|_| bad("more than 255 levels of indirection"))?;
        let (compressed, rest) = match rest.strip_prefix('Z') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let rest = rest.strip_prefix('D').unwrap_or(rest);
        if indirection > 0 && compressed {
            return Err(bad("compression and indirection are mutually exclusive"));
        }
        if rest.is_empty() {
            return Err(bad("missing content ID"));
        }
        let content = rest
            .parse::<ContentId>()
            .map_err(|_| bad("malformed content ID"))?;
        Ok(ObjectId {
            content,
            indirection,
            compressed,
        })
    }
}

impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_plain_and_prefixed() {
        for s in [
            "4e51e7a913fc80137da52880fecca175",
            "k4e51e7a913fc80137da52880fecca175",
            "m00",
        ] {
            let id: ContentId = s.parse().unwrap();
            assert_eq!(id.to_string(), s);
            assert_eq!(ContentId::from_binary(&id.to_binary()).unwrap(), id);
        }
    }

    #[test]
    fn upper_case_hex_is_normalised() {
        let id: ContentId = "kABCDEF01".parse().unwrap();
        assert_eq!(id.to_string(), "kabcdef01");
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            "a0102".parse::<ContentId>(),
            Err(IdError::BadPrefix('a'))
        ));
        assert!(matches!(
            "K0102".parse::<ContentId>(),
            Err(IdError::BadPrefix('K'))
        ));
        assert!(matches!("zz".parse::<ContentId>(), Err(IdError::NotHex(_))));
        assert!(matches!(
            "".parse::<ContentId>(),
            Err(IdError::BadLength { .. })
        ));
        assert!(matches!(
            "k".parse::<ContentId>(),
            Err(IdError::BadLength { .. })
        ));
        let long = "00".repeat(33);
        assert!(matches!(
            long.parse::<ContentId>(),
            Err(IdError::BadLength { len: 33, .. })
        ));
        assert!(ContentId::from_binary(&[]).is_err());
        assert!(ContentId::from_binary(&[b'A', 1]).is_err());
        assert!("é0".parse::<ContentId>().is_err());
    }

    #[test]
    fn ordering_unprefixed_first() {
        let a: ContentId = "ff".parse().unwrap();
        let b: ContentId = "k00".parse().unwrap();
        let c: ContentId = "x00".parse().unwrap();
        assert!(a < b && b < c);
    }

    #[test]
    fn iv_is_last_16_bytes() {
        let id: ContentId = "000102030405060708090a0b0c0d0e0f1011".parse().unwrap();
        assert_eq!(id.iv()[0], 2);
        assert_eq!(id.iv()[15], 0x11);
    }

    #[test]
    fn object_id_round_trip() {
        for s in [
            "4e51e7a913fc80137da52880fecca175",
            "Ix11b4a1a9fe6d87b7927dffde44d2ddd2",
            "IIx062a95980400b84e5175857021f2a5aa",
            "Ik28395e7632648d5678ebc63911d7ce51",
            "Zabcd",
            "k00",
        ] {
            let id: ObjectId = s.parse().unwrap();
            assert_eq!(id.to_string(), s);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<ObjectId>(&json).unwrap(), id);
        }
    }

    #[test]
    fn object_id_legacy_d_marker_is_dropped() {
        let id: ObjectId = "IIDxf0f0".parse().unwrap();
        assert_eq!(id.to_string(), "IIxf0f0");
        assert_eq!(id.indirection(), 2);
        let id: ObjectId = "ZDabcd".parse().unwrap();
        assert_eq!(id.to_string(), "Zabcd");
        assert!(id.is_compressed());
    }

    #[test]
    fn object_id_accessors() {
        let id: ObjectId = "IIx0102".parse().unwrap();
        assert!(id.is_indirect());
        assert_eq!(id.content_id().to_string(), "x0102");
        assert_eq!(id.direct_content(), None);
        let inner = id.index_object_id().unwrap();
        assert_eq!(inner.to_string(), "Ix0102");
        let leaf = inner.index_object_id().unwrap();
        assert_eq!(leaf.to_string(), "x0102");
        assert_eq!(leaf.index_object_id(), None);
        assert_eq!(leaf.direct_content(), Some((id.content_id(), false)));
        assert_eq!(ObjectId::indirect(inner).unwrap(), id);
        let z = ObjectId::compressed(id.content_id());
        assert_eq!(z.to_string(), "Zx0102");
        assert_eq!(z.direct_content(), Some((id.content_id(), true)));
        assert!(ObjectId::indirect(z).is_err());
        assert_eq!(ObjectId::direct(id.content_id()), leaf);
    }

    #[test]
    fn object_id_rejects_malformed() {
        let long_i = format!("{}abcd", "I".repeat(256));
        for s in [
            "",
            "I",
            "II",
            "Z",
            "D",
            "ZD",
            "IZabcd",
            "IZDabcd",
            "DZabcd",
            "Dxf0f",
            "IDxf0f",
            "Da",
            "Daf0f0",
            "B!$@#$!@#$",
            "X",
            "I.",
            "I.x",
            "I.af",
            "Ix.ag",
            "Iab.",
            "I1",
            "I1,",
            "I-1,X",
            "Xsomething",
            "abc",
            "Iabc",
            "IDI00",
            long_i.as_str(),
        ] {
            match s.parse::<ObjectId>() {
                Err(IdError::BadObjectId { id, .. }) => assert_eq!(id, s),
                other => panic!("{s:?} parsed as {other:?}"),
            }
        }
        assert!(serde_json::from_str::<ObjectId>("\"IZ00\"").is_err());
        assert!(serde_json::from_str::<ObjectId>("5").is_err());
        let max = format!("{}abcd", "I".repeat(255));
        let id: ObjectId = max.parse().unwrap();
        assert_eq!(id.indirection(), 255);
        assert!(ObjectId::indirect(id).is_err());
    }
}
