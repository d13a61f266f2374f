//! Vector tests from `json-encoding.json`: Go-compatible string, time, mode, directory,
//! snapshot-manifest, policy and manifest-store encodings.

use kopia_proto::gojson;
use serde_json::Value;

fn vectors() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/json-encoding.json"
    ))
    .expect("vector file");
    serde_json::from_str(&text).expect("vector JSON")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string vector")
}

#[test]
fn string_escapes() {
    let v = vectors();
    let cases = v["string_escapes"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for c in cases {
        let input = hex::decode(s(&c["input_hex"])).unwrap();
        let mut out = Vec::new();
        gojson::write_string(&mut out, &input);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            s(&c["json"]),
            "input {}",
            s(&c["input_hex"])
        );
    }
}

#[test]
fn utc_timestamps() {
    let v = vectors();
    let cases = v["utc_timestamp_nanoseconds_to_json"].as_object().unwrap();
    assert_eq!(cases.len(), 7);
    for (ns, want) in cases {
        let ns: i64 = ns.parse().unwrap();
        let mut out = Vec::new();
        gojson::write_time(&mut out, ns);
        assert_eq!(String::from_utf8(out).unwrap(), s(want));
        let unquoted = s(want).trim_matches('"');
        assert_eq!(gojson::parse_time(unquoted).unwrap(), ns);
    }
}
