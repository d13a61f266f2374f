//! `repo-crypto.json` → `userPasswordHash`: profile JSON, hashes and CLI tokens for both
//! password-hash versions.

use kopia_proto::manifest::{
    PasswordHashVersion, UserProfile, compute_password_hash, decode_password_hash_token,
    encode_password_hash_token,
};
use serde_json::Value;

#[test]
fn user_password_hash_vectors() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/repo-crypto.json"
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let cases = v["userPasswordHash"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for c in cases {
        let version =
            PasswordHashVersion::from_number(c["passwordHashVersion"].as_i64().unwrap()).unwrap();
        let password = c["password"].as_str().unwrap();
        let salt: [u8; 32] = hex::decode(c["saltHex"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let key = version.derive(password, &salt).unwrap();
        assert_eq!(hex::encode(key), c["derivedHex"].as_str().unwrap());
        let h = compute_password_hash(password, &salt, version).unwrap();
        let profile = UserProfile::new("alice@vm1", password, version, &salt).unwrap();
        assert_eq!(profile.password_hash, h);
        let profile_json = c["profileJSON"].as_str().unwrap();
        assert_eq!(String::from_utf8(profile.to_json()).unwrap(), profile_json);
        let parsed = UserProfile::from_json(profile_json.as_bytes()).unwrap();
        assert_eq!(parsed, profile);
        assert!(parsed.is_valid_password(password).unwrap());
        assert!(!parsed.is_valid_password("wrong").unwrap());
        let token = c["cliPasswordHashToken(base64 of JSON)"].as_str().unwrap();
        assert_eq!(encode_password_hash_token(version.number(), &h), token);
        let (tv, th) = decode_password_hash_token(token).unwrap();
        assert_eq!((tv, th), (version.number(), h));
        let mut other = UserProfile {
            username: "alice@vm1".into(),
            ..Default::default()
        };
        other.set_password_hash_token(token).unwrap();
        assert_eq!(other, profile);
    }
}
