//! Vector tests for `kopia_proto::object` (vectors/objects.json).

mod hashsplit_common;

use std::collections::HashMap;

use hashsplit_common::{splitmix64, vectors};
use kopia_proto::hashing::HashFunction;
use kopia_proto::ids::{ContentId, ObjectId};
use kopia_proto::object::{
    ContentSink, ContentSource, ObjectWriter, WriterOptions, WrittenObject, concatenate,
    decode_index, parallel_upload_parts, read_object, write_object,
};

/// In-memory content store hashing like the vector repository.
struct MemStore {
    hash: HashFunction,
    contents: HashMap<ContentId, Vec<u8>>,
}

impl MemStore {
    fn new(v: &serde_json::Value) -> Self {
        let repo = &v["repository"];
        let secret = hex::decode(repo["secret_hex"].as_str().unwrap()).unwrap();
        MemStore {
            hash: HashFunction::new(repo["hash"].as_str().unwrap(), &secret).unwrap(),
            contents: HashMap::new(),
        }
    }

    /// Bytes of the (single-content) index object of an `I…` ID.
    fn index_bytes(&self, id: ObjectId) -> String {
        let index = id.index_object_id().unwrap();
        assert!(!index.is_indirect(), "{id} has a multi-chunk index");
        String::from_utf8(self.contents[&index.content_id()].clone()).unwrap()
    }
}

impl ContentSink for MemStore {
    type Error = std::convert::Infallible;
    fn put(
        &mut self,
        prefix: Option<u8>,
        data: &[u8],
        _compression: Option<u32>,
    ) -> Result<ContentId, Self::Error> {
        let id = self.hash.content_id(prefix, data).unwrap();
        self.contents.entry(id).or_insert_with(|| data.to_vec());
        Ok(id)
    }
}

impl ContentSource for MemStore {
    type Error = String;
    fn read_direct(&mut self, content: ContentId, _compressed: bool) -> Result<Vec<u8>, String> {
        self.contents
            .get(&content)
            .cloned()
            .ok_or_else(|| format!("{content} not found"))
    }
}

fn repo_opts(v: &serde_json::Value) -> WriterOptions {
    WriterOptions::new(v["repository"]["splitter"].as_str().unwrap()).unwrap()
}

fn s<'a>(v: &'a serde_json::Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or_else(|| panic!("missing {path:?}"))
}

#[test]
fn small_objects() {
    let v = vectors("objects.json");
    let mut st = MemStore::new(&v);
    let opts = repo_opts(&v);
    let id = write_object(&mut st, opts.clone(), b"").unwrap();
    assert_eq!(id.to_string(), s(&v, &["objects", "empty_file"]));
    let k = opts.clone().with_prefix(Some(b'k')).unwrap();
    let id = write_object(&mut st, k, b"").unwrap();
    assert_eq!(
        id.to_string(),
        s(&v, &["objects", "empty_object_with_prefix_k"])
    );
    let hello = hex::decode("68656c6c6f20776f726c640a").unwrap();
    let id = write_object(&mut st, opts, &hello).unwrap();
    assert_eq!(
        id.to_string(),
        s(
            &v,
            &["objects", "hello_world_newline (68656c6c6f20776f726c640a)"]
        )
    );
    assert_eq!(read_object(&mut st, id).unwrap(), hello);
}

#[test]
fn large_objects() {
    let v = vectors("objects.json");
    let data = splitmix64(0, 32 << 20);
    let mut st = MemStore::new(&v);
    let opts = repo_opts(&v);

    let id = write_object(&mut st, opts.clone(), &data).unwrap();
    assert_eq!(id.to_string(), s(&v, &["objects", "splitmix0_32MiB"]));
    let idx = st.index_bytes(id);
    assert_eq!(
        idx,
        s(&v, &["objects", "splitmix0_32MiB__index_object_bytes"])
    );
    assert_eq!(decode_index(idx.as_bytes()).unwrap().len(), 9);
    assert!(read_object(&mut st, id).unwrap() == data);

    let k = opts.clone().with_prefix(Some(b'k')).unwrap();
    let id = write_object(&mut st, k, &data[..20 << 20]).unwrap();
    assert_eq!(
        id.to_string(),
        s(&v, &["objects", "splitmix0_20MiB_written_with_prefix_k"])
    );
    assert_eq!(
        st.index_bytes(id),
        s(
            &v,
            &[
                "objects",
                "splitmix0_20MiB_written_with_prefix_k__index_object_bytes"
            ]
        )
    );

    let fixed = opts.with_splitter("FIXED-1M");
    let id = write_object(&mut st, fixed, &data[..3670016]).unwrap();
    assert_eq!(
        id.to_string(),
        s(
            &v,
            &[
                "objects",
                "splitmix0_first_3670016_bytes_with_splitter_override_FIXED-1M"
            ]
        )
    );
}

fn written(st: &mut MemStore, opts: WriterOptions, data: &[u8]) -> WrittenObject {
    let mut w = ObjectWriter::new(opts);
    w.write(st, data).unwrap();
    w.finish_with_entries(st).unwrap()
}

#[test]
fn concatenation() {
    let v = vectors("objects.json");
    let c = &v["concatenation"];
    let data = splitmix64(0, 5 << 20);
    let mut st = MemStore::new(&v);
    let opts = repo_opts(&v);
    let fixed = opts.clone().with_splitter("FIXED-1M");
    let parts = vec![
        written(&mut st, fixed.clone(), &data[..3 << 20]),
        written(&mut st, fixed, &data[3 << 20..]),
        written(&mut st, opts.clone(), b"tail"),
    ];
    let want: Vec<&str> = c["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let got: Vec<String> = parts.iter().map(|p| p.id.to_string()).collect();
    assert_eq!(got, want);
    let id = concatenate(&mut st, &parts, &opts).unwrap();
    assert_eq!(id.to_string(), s(c, &["object_id"]));
    assert_eq!(st.index_bytes(id), s(c, &["index_object_bytes"]));
    let mut all = data.clone();
    all.extend_from_slice(b"tail");
    assert!(read_object(&mut st, id).unwrap() == all);
    // A single part is returned as is; no parts is an error.
    assert_eq!(
        concatenate(&mut st, &parts[..1], &opts).unwrap(),
        parts[0].id
    );
    assert!(concatenate(&mut st, &[], &opts).is_err());
}

#[test]
fn parallel_upload() {
    let v = vectors("objects.json");
    let data = splitmix64(0, 20 << 20);
    let mut st = MemStore::new(&v);
    let opts = repo_opts(&v);
    let cases = v["parallel_upload"]["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 2);
    for (len, case) in cases {
        let len: usize = len.parse().unwrap();
        let ranges = parallel_upload_parts(len as u64, 8 << 20).unwrap().unwrap();
        let parts: Vec<WrittenObject> = ranges
            .iter()
            .map(|r| {
                written(
                    &mut st,
                    opts.clone(),
                    &data[r.start as usize..r.end as usize],
                )
            })
            .collect();
        let want: Vec<&str> = case["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        let got: Vec<String> = parts.iter().map(|p| p.id.to_string()).collect();
        assert_eq!(got, want, "{len}");
        let id = concatenate(&mut st, &parts, &opts).unwrap();
        assert_eq!(id.to_string(), s(case, &["object_id"]), "{len}");
        assert_eq!(st.index_bytes(id), s(case, &["index_json"]), "{len}");
        assert!(read_object(&mut st, id).unwrap() == data[..len]);
    }
}

#[test]
fn two_level_indirection() {
    let v = vectors("objects.json");
    let t = &v["two_level_indirection"];
    let mut st = MemStore::new(&v);
    let opts = WriterOptions::new(s(t, &["repository_splitter"])).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut w = ObjectWriter::new(opts);
    for _ in 0..300 {
        w.write(&mut st, &zeros).unwrap();
    }
    assert_eq!(w.length(), 314572800);
    let id = w.finish(&mut st).unwrap();
    assert_eq!(id.to_string(), s(t, &["object_id"]));
    assert_eq!(id.indirection(), 2);
    let level1 = id.index_object_id().unwrap();
    assert_eq!(level1.to_string(), s(t, &["level1_index_object_id"]));
    assert_eq!(st.index_bytes(level1), s(t, &["level2_index_object_bytes"]));
    let entries = kopia_proto::object::load_index(&mut st, level1).unwrap();
    assert_eq!(entries.len(), 2400);
    assert_eq!(entries.last().unwrap().end(), 314572800);
}
