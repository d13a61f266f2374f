use super::*;

fn oid(s: &str) -> ObjectId {
    s.parse().unwrap()
}

fn sample() -> Vec<IndirectEntry> {
    vec![
        IndirectEntry {
            start: 0,
            length: 5152927,
            object: oid("17022e5bde5004e78bb777d8da782927"),
        },
        IndirectEntry {
            start: 5152927,
            length: 4,
            object: oid("k34bad00233d526fef127a79601c3c98f"),
        },
        IndirectEntry {
            start: 5152931,
            length: 0,
            object: oid("Ix00ff"),
        },
    ]
}

#[test]
fn encode_exact_bytes() {
    let got = String::from_utf8(encode_index(&sample())).unwrap();
    assert_eq!(
        got,
        "{\"stream\":\"kopia:indirect\",\"entries\":[\
         {\"l\":5152927,\"o\":\"17022e5bde5004e78bb777d8da782927\"},\
         {\"s\":5152927,\"l\":4,\"o\":\"k34bad00233d526fef127a79601c3c98f\"},\
         {\"s\":5152931,\"o\":\"Ix00ff\"}]}\n"
    );
}

#[test]
fn decode_round_trip() {
    let e = sample();
    assert_eq!(decode_index(&encode_index(&e)).unwrap(), e);
}

#[test]
fn decode_is_go_tolerant() {
    let json = br#" {"STREAM":"kopia:indirect","extra":[1,{"a":null}],"Entries":[
        {"O":"Dabcd","L":7,"x":"y"},
        {"\u017f":7,"l":null,"o":"00","s":7},
        {"S":8,"L":1,"o":"II00"}]} trailing garbage is ignored"#;
    let e = decode_index(json).unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!((e[0].start, e[0].length, e[0].object), (0, 7, oid("abcd")));
    assert_eq!((e[1].start, e[1].length), (7, 0));
    assert_eq!((e[2].start, e[2].length, e[2].object), (8, 1, oid("II00")));
    // Duplicate keys: the last one wins; null leaves the value unchanged.
    let e = decode_index(
        br#"{"stream":"kopia:indirect","entries":[{"s":1,"s":2,"l":3,"l":null,"o":"01"}]}"#,
    )
    .unwrap();
    assert_eq!((e[0].start, e[0].length), (2, 3));
    // Entrİes (capital I with dot) folds to "entries" in Go.
    assert!(
        decode_index(
            "{\"stream\":\"kopia:indirect\",\"entr\u{130}es\":[{\"o\":\"01\"}]}".as_bytes()
        )
        .is_ok()
    );
}

#[test]
fn decode_rejects_bad_input() {
    type Case<'a> = (&'a [u8], fn(&IndexError) -> bool);
    let bad: &[Case] = &[
        (b"", |e| matches!(e, IndexError::Json(_))),
        (b"{", |e| matches!(e, IndexError::Json(_))),
        (b"null", |e| matches!(e, IndexError::Json(_))),
        (b"[1]", |e| matches!(e, IndexError::Json(_))),
        (
            br#"{"stream":"kopia:directory","entries":[{"o":"01"}]}"#,
            |e| matches!(e, IndexError::WrongStream(Some(_))),
        ),
        (br#"{"entries":[{"o":"01"}]}"#, |e| {
            matches!(e, IndexError::WrongStream(None))
        }),
        (br#"{"stream":5,"entries":[]}"#, |e| {
            matches!(e, IndexError::Json(_))
        }),
        (br#"{"stream":"kopia:indirect"}"#, |e| {
            matches!(e, IndexError::NoEntries)
        }),
        (br#"{"stream":"kopia:indirect","entries":null}"#, |e| {
            matches!(e, IndexError::NoEntries)
        }),
        (br#"{"stream":"kopia:indirect","entries":[]}"#, |e| {
            matches!(e, IndexError::NoEntries)
        }),
        (br#"{"stream":"kopia:indirect","entries":[{"l":5}]}"#, |e| {
            matches!(e, IndexError::MissingObject(0))
        }),
        (
            br#"{"stream":"kopia:indirect","entries":[{"o":"01"},null]}"#,
            |e| matches!(e, IndexError::MissingObject(1)),
        ),
        (
            br#"{"stream":"kopia:indirect","entries":[{"o":""}]}"#,
            |e| matches!(e, IndexError::MissingObject(0)),
        ),
        (
            br#"{"stream":"kopia:indirect","entries":[{"o":"IZ01"}]}"#,
            |e| matches!(e, IndexError::Json(_)),
        ),
        (br#"{"stream":"kopia:indirect","entries":[{"o":5}]}"#, |e| {
            matches!(e, IndexError::Json(_))
        }),
        (
            br#"{"stream":"kopia:indirect","entries":[{"s":1.5,"o":"01"}]}"#,
            |e| matches!(e, IndexError::Json(_)),
        ),
        (
            br#"{"stream":"kopia:indirect","entries":[{"s":"1","o":"01"}]}"#,
            |e| matches!(e, IndexError::Json(_)),
        ),
        (
            br#"{"stream":"kopia:indirect","entries":[{"l":1e3,"o":"01"}]}"#,
            |e| matches!(e, IndexError::Json(_)),
        ),
        (
            br#"{"stream":"kopia:indirect","entries":[{"l":99999999999999999999,"o":"01"}]}"#,
            |e| matches!(e, IndexError::Json(_)),
        ),
        (
            br#"{"stream":"kopia:indirect","entries":[{"s":-1,"o":"01"}]}"#,
            |e| {
                matches!(
                    e,
                    IndexError::Negative {
                        field: "s",
                        value: -1,
                        ..
                    }
                )
            },
        ),
        (
            br#"{"stream":"kopia:indirect","entries":[{"o":"01"},{"l":-2,"o":"01"}]}"#,
            |e| {
                matches!(
                    e,
                    IndexError::Negative {
                        index: 1,
                        field: "l",
                        ..
                    }
                )
            },
        ),
        (
            br#"{"stream":"kopia:indirect","entries":{"o":"01"}}"#,
            |e| matches!(e, IndexError::Json(_)),
        ),
        (
            b"{\"stream\":\"kopia:indirect\",\"entries\":[{\"o\":\"01\"}]",
            |e| matches!(e, IndexError::Json(_)),
        ),
    ];
    for (input, check) in bad {
        let err = decode_index(input).unwrap_err();
        assert!(check(&err), "{:?}: {err:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn fold_matches_go() {
    assert!(fold_eq("stream", "stream"));
    assert!(fold_eq("StReAm", "stream"));
    assert!(fold_eq("\u{17f}tream", "stream"));
    assert!(fold_eq("entr\u{131}es", "entries"));
    assert!(!fold_eq("streams", "stream"));
    assert!(!fold_eq("strea", "stream"));
    assert!(!fold_eq("ßtream", "stream"));
}

#[test]
fn builder_slots_and_outcome() {
    let mut b = IndirectIndexBuilder::new();
    assert!(b.is_empty());
    assert_eq!(b.outcome().unwrap(), IndexOutcome::Empty);
    let s0 = b.reserve(10);
    let s1 = b.reserve(0);
    assert_eq!(b.total_length(), 10);
    assert_eq!(b.outcome().unwrap_err(), IndexError::Unfilled(0));
    b.fill(s1, oid("01")).unwrap();
    assert_eq!(b.entries().unwrap_err(), IndexError::Unfilled(0));
    assert_eq!(b.fill(7, oid("01")).unwrap_err(), IndexError::NoSuchSlot(7));
    b.fill(s0, oid("00")).unwrap();
    let e = b.entries().unwrap();
    assert_eq!((e[1].start, e[1].length), (10, 0));
    match b.outcome().unwrap() {
        IndexOutcome::Index(json) => assert_eq!(decode_index(&json).unwrap(), e),
        other => panic!("{other:?}"),
    }
    b.clear();
    b.push(3, oid("02"));
    assert_eq!(b.outcome().unwrap(), IndexOutcome::Single(oid("02")));
    assert_eq!(b.len(), 1);
}
