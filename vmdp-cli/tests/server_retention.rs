//! Retention after `vmdp backup create`, as after `kopia snapshot create`: the
//! source's retention policy (set with real kopia) expires old backups, and
//! both `vmdp backup list` and `kopia snapshot list` agree on what is left.

mod support;

use std::path::Path;

use serde_json::Value;
use support::*;
use vmdp_testkit::{KopiaServer, run_kopia};

const ALICE: &str = "alice@vm1:alice-password-1";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

#[test]
fn backup_create_applies_the_sources_retention_policy() {
    let server = KopiaServer::start(&[ALICE]);
    let (vhome, khome) = connect_both(&server);

    let tree = scratch(&server, "tree");
    std::fs::create_dir_all(&tree).unwrap();
    // Only the latest two: every time-based rule must be 0, or it keeps more
    // (all snapshots here fall in the same hour, day, ...).
    run_kopia(
        &khome,
        &[
            "policy",
            "set",
            s(&tree),
            "--keep-latest=2",
            "--keep-hourly=0",
            "--keep-daily=0",
            "--keep-weekly=0",
            "--keep-monthly=0",
            "--keep-annual=0",
        ],
    );

    let mut created = Vec::new();
    let mut deleted_by = Vec::new();
    for i in 0..4 {
        std::fs::write(tree.join("file.txt"), format!("version {i}")).unwrap();
        let out = vmdp_json(&vhome, &["backup", "create", s(&tree)]);
        created.push(out["id"].as_str().expect("id").to_owned());
        let deleted: Vec<String> = out["retention"]["deleted"]
            .as_array()
            .unwrap_or_else(|| panic!("no retention.deleted in {out}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        deleted_by.push(deleted);
    }
    assert_eq!(
        deleted_by,
        vec![
            vec![],
            vec![],
            vec![created[0].clone()],
            vec![created[1].clone()]
        ],
        "expired backups after each create"
    );

    let kept = created[2..].to_vec();
    let vlist = vmdp_json(&vhome, &["backup", "list", s(&tree)]);
    assert_eq!(ids(vlist.as_array().unwrap()), kept, "vmdp backup list");
    let klist = kopia_snapshots(&khome, &tree);
    assert_eq!(ids(&klist), kept, "kopia snapshot list");

    // The human output names what retention deleted.
    std::fs::write(tree.join("file.txt"), "version 4").unwrap();
    let text = vmdp_ok(&vhome, &["backup", "create", s(&tree)]);
    assert!(
        text.contains("Deleted 1 expired backup(s)") && text.contains(&created[2]),
        "{text}"
    );
}
