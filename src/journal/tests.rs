use super::*;

fn object(id: &str, path: &str, blob: &str) -> ObjectRecord {
    let now = jiff::Timestamp::now();
    ObjectRecord {
        id: id.into(),
        tenant: "032018".into(),
        bx: BoxKind::Inbox,
        path: path.into(),
        size: 3,
        sha256: "00".into(),
        segments: vec![SegmentRef {
            blob: blob.into(),
            len: 3,
        }],
        uploaded_by: "u".into(),
        source: None,
        started_at: now,
        committed_at: now,
        mtime: 0,
        state: ObjectState::Stored,
    }
}

fn commit(
    j: &Journal,
    name: &str,
    id: &str,
    blob: &str,
    exclusive: bool,
) -> Result<Outcome, ApplyError> {
    j.apply_one_blocking(Op::CommitObject {
        entry_key: entry_key("032018", BoxKind::Inbox, "", name),
        parent_key: None,
        object: object(id, name, blob),
        exclusive,
        clear_partial: None,
    })
}

#[test]
fn commit_supersede_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.redb")).unwrap();
    commit(&j, "a.csv", "o1", "b1", false).unwrap();
    let out = commit(&j, "a.csv", "o2", "b2", false).unwrap();
    assert_eq!(
        out.garbage,
        vec![SegmentRef {
            blob: "b1".into(),
            len: 3
        }]
    );
    assert!(matches!(
        commit(&j, "a.csv", "o3", "b3", true),
        Err(ApplyError::Op(OpError::Exists))
    ));
    assert_eq!(j.object("o1").unwrap().unwrap().state.label(), "superseded");

    let listed = j.list(&dir_prefix("032018", BoxKind::Inbox, "")).unwrap();
    assert_eq!(listed.len(), 1);
    // Another tenant's prefix sees nothing.
    assert!(
        j.list(&dir_prefix("011002", BoxKind::Inbox, ""))
            .unwrap()
            .is_empty()
    );

    let out = j
        .apply_one_blocking(Op::RemoveFile {
            entry_key: entry_key("032018", BoxKind::Inbox, "", "a.csv"),
            state: ObjectState::Deleted {
                at: jiff::Timestamp::now(),
                by: "u".into(),
            },
        })
        .unwrap();
    assert_eq!(out.garbage.len(), 1);
    assert!(
        j.entry(&entry_key("032018", BoxKind::Inbox, "", "a.csv"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn dirs_and_rename() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.redb")).unwrap();
    let dkey = entry_key("032018", BoxKind::Inbox, "", "d");
    let mk = Op::Mkdir {
        key: dkey.clone(),
        parent_key: None,
        record: EntryRecord::Dir {
            created: jiff::Timestamp::now(),
            created_by: "u".into(),
        },
    };
    j.apply_one_blocking(mk.clone()).unwrap();
    assert!(matches!(
        j.apply_one_blocking(mk),
        Err(ApplyError::Op(OpError::Exists))
    ));
    commit(&j, "x.tmp", "o1", "b1", false).unwrap();
    j.apply_one_blocking(Op::Rename {
        from_key: entry_key("032018", BoxKind::Inbox, "", "x.tmp"),
        to_key: entry_key("032018", BoxKind::Inbox, "d", "x.csv"),
        to_parent_key: Some(dkey.clone()),
        to_path: "d/x.csv".into(),
        overwrite: false,
        at: jiff::Timestamp::now(),
    })
    .unwrap();
    assert_eq!(j.object("o1").unwrap().unwrap().path, "d/x.csv");
    let rm = Op::Rmdir {
        key: dkey.clone(),
        children_prefix: dir_prefix("032018", BoxKind::Inbox, "d"),
    };
    assert!(matches!(
        j.apply_one_blocking(rm.clone()),
        Err(ApplyError::Op(OpError::NotEmpty))
    ));
    j.apply_one_blocking(Op::RemoveFile {
        entry_key: entry_key("032018", BoxKind::Inbox, "d", "x.csv"),
        state: ObjectState::Deleted {
            at: jiff::Timestamp::now(),
            by: "u".into(),
        },
    })
    .unwrap();
    j.apply_one_blocking(rm).unwrap();
}

#[test]
fn failed_op_does_not_spoil_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.redb")).unwrap();
    let results = j
        .apply_blocking(vec![
            Op::Rmdir {
                key: "nope".into(),
                children_prefix: "nope\0".into(),
            },
            Op::CommitObject {
                entry_key: entry_key("032018", BoxKind::Inbox, "", "ok.csv"),
                parent_key: None,
                object: object("o9", "ok.csv", "b9"),
                exclusive: true,
                clear_partial: None,
            },
        ])
        .unwrap();
    assert!(matches!(results[0], Err(OpError::NotFound)));
    assert!(results[1].is_ok());
    assert!(j.object("o9").unwrap().is_some());
}

#[test]
fn second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.redb");
    let _j = Journal::open(&path).unwrap();
    assert!(matches!(
        Journal::open(&path),
        Err(JournalError::Locked { .. })
    ));
}
