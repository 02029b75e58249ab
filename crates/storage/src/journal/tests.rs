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
        check: None,
        delivered: None,
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
        object: Box::new(object(id, name, blob)),
        exclusive,
        replaces_only_waiting: false,
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
            unless_delivered_by: Vec::new(),
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
        unless_delivered_by: Vec::new(),
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
                object: Box::new(object("o9", "ok.csv", "b9")),
                exclusive: true,
                replaces_only_waiting: false,
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

/// A note whose text names its sequence number and whose delivery is
/// counted.
fn note(delivered: &std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> Note {
    let d = std::sync::Arc::clone(delivered);
    Note {
        text: Box::new(|seq: u64, results: &[crate::journal::OpResult]| {
            results.iter().all(Result::is_ok).then(|| format!("n{seq}"))
        }),
        deliver: Box::new(move |t| d.lock().unwrap().push(t)),
    }
}

#[test]
fn notes_are_committed_with_accepted_changes_delivered_after_and_dropped_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.redb");
    let delivered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let j = Journal::open(&path).unwrap();
        let mk = |name: &str| Op::CommitObject {
            entry_key: entry_key("032018", BoxKind::Inbox, "", name),
            parent_key: None,
            object: Box::new(object(&format!("id-{name}"), name, &"a".repeat(32))),
            exclusive: true,
            replaces_only_waiting: false,
            clear_partial: None,
        };
        j.apply_noted_blocking(vec![mk("a")], note(&delivered))
            .unwrap();
        // Refused (exists, exclusive): no note, nothing delivered.
        let r = j
            .apply_noted_blocking(vec![mk("a")], note(&delivered))
            .unwrap();
        assert_eq!(r[0].as_ref().unwrap_err(), &OpError::Exists);
        j.apply_noted_blocking(vec![mk("b")], note(&delivered))
            .unwrap();
        assert_eq!(*delivered.lock().unwrap(), vec!["n1", "n2"]);
        assert_eq!(
            j.notes().unwrap(),
            vec![(1, "n1".to_string()), (2, "n2".to_string())]
        );
        j.apply_one_blocking(Op::DropNotes { through: 1 }).unwrap();
        assert_eq!(j.last_note().unwrap(), Some(2));
        j.apply_one_blocking(Op::DropNotes { through: 2 }).unwrap();
        assert_eq!(j.last_note().unwrap(), None);
    }
    // Sequence numbers never repeat, across restarts and after dropping.
    // (The old writer thread lets go of the file once it sees the handle
    // gone.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let j = loop {
        match Journal::open(&path) {
            Err(JournalError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::yield_now();
            }
            other => break other.unwrap(),
        }
    };
    let op = Op::Mkdir {
        key: entry_key("032018", BoxKind::Inbox, "", "d"),
        parent_key: None,
        record: EntryRecord::Dir {
            created: jiff::Timestamp::now(),
            created_by: "u".into(),
        },
    };
    j.apply_noted_blocking(vec![op], note(&delivered)).unwrap();
    assert_eq!(j.notes().unwrap(), vec![(3, "n3".to_string())]);
}

fn delivery(route: &str, tenant: &str, object: &str) -> DeliveryRecord {
    let now = jiff::Timestamp::now();
    DeliveryRecord {
        route: route.into(),
        object: object.into(),
        tenant: tenant.into(),
        bx: BoxKind::Inbox,
        path: format!("{object}.csv"),
        size: 1,
        sha256: "00".into(),
        state: DeliveryState::Queued,
        attempts: 0,
        queued_at: now,
        next_attempt: now,
        last_error: None,
        finished_at: None,
        destination: "dir:/x".into(),
    }
}

fn put_delivery(j: &Journal, record: DeliveryRecord, only_new: bool) {
    let expect = (!only_new).then_some(DeliveryState::Queued);
    j.apply_one_blocking(Op::Handoff(HandoffOp::PutDelivery {
        record,
        only_new,
        expect,
    }))
    .unwrap();
}

#[test]
fn a_tenants_delivery_records_are_found_without_reading_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.redb")).unwrap();
    put_delivery(&j, delivery("up", "032018", "a"), true);
    put_delivery(&j, delivery("copy", "032018", "a"), true);
    put_delivery(&j, delivery("up", "011002", "b"), true);
    // A transition replaces the record; the index keeps one entry.
    let mut done = delivery("up", "032018", "a");
    done.state = DeliveryState::Delivered;
    put_delivery(&j, done, false);
    let mut mine = j.deliveries_of("032018").unwrap();
    mine.sort_by(|x, y| x.route.cmp(&y.route));
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[1].state, DeliveryState::Delivered);
    assert!(mine.iter().all(|r| r.tenant == "032018"));
    assert_eq!(j.deliveries_of("011002").unwrap().len(), 1);
    assert!(j.deliveries_of("01100").unwrap().is_empty());
}

#[test]
fn a_journal_from_before_the_index_gets_it_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = redb::Database::create(dir.path().join("old.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn
            .open_table(redb::TableDefinition::<&str, &[u8]>::new("deliveries"))
            .unwrap();
        for (route, tenant, object) in [("up", "032018", "a"), ("up", "011002", "b")] {
            let r = serde_json::to_vec(&delivery(route, tenant, object)).unwrap();
            t.insert(format!("{route}\0{object}").as_str(), r.as_slice())
                .unwrap();
        }
    }
    txn.commit().unwrap();
    drop(db);
    let j = Journal::open(&dir.path().join("old.redb")).unwrap();
    let mine = j.deliveries_of("032018").unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].object, "a");
    assert_eq!(j.deliveries_of("011002").unwrap()[0].object, "b");
}

/// A file sent on lane `l` by `sender`, awaiting approval.
fn lane_file(j: &Journal, id: &str, name: &str, sender: &str) {
    let mut o = object(id, name, &format!("blob-{id}"));
    o.tenant = lane_owner("l");
    o.uploaded_by = sender.into();
    o.state = ObjectState::AwaitingApproval {
        since: jiff::Timestamp::now(),
        approvals: Vec::new(),
    };
    j.apply_one_blocking(Op::CommitObject {
        entry_key: entry_key(&lane_owner("l"), BoxKind::Inbox, "", name),
        parent_key: None,
        object: Box::new(o),
        exclusive: true,
        replaces_only_waiting: false,
        clear_partial: None,
    })
    .unwrap();
}

fn lane(j: &Journal, op: LaneOp) -> Result<Outcome, ApplyError> {
    j.apply_one_blocking(Op::Lane(op))
}

#[test]
fn a_lane_file_is_delivered_by_enough_distinct_approvers_never_its_sender() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.redb")).unwrap();
    lane_file(&j, "o1", "a.csv", "std-ope");
    let approve = |by: &str| LaneOp::Approve {
        id: "o1".into(),
        by: by.into(),
        at: jiff::Timestamp::now(),
        needed: 2,
    };
    assert!(matches!(
        lane(&j, approve("std-ope")),
        Err(ApplyError::Op(OpError::Stale))
    ));
    let out = lane(&j, approve("boss1")).unwrap();
    assert_eq!(out.object.unwrap().state.label(), "awaiting_approval");
    assert!(matches!(
        lane(&j, approve("boss1")),
        Err(ApplyError::Op(OpError::Stale))
    ));
    let out = lane(&j, approve("boss2")).unwrap();
    assert_eq!(out.object.unwrap().state, ObjectState::Stored, "delivered");
    // Delivered: no more approvals, no rejection; it can expire.
    assert!(lane(&j, approve("boss3")).is_err());
    let reject = LaneOp::Reject {
        id: "o1".into(),
        by: "boss3".into(),
        at: jiff::Timestamp::now(),
        reason: "late".into(),
    };
    assert!(lane(&j, reject).is_err());
    let out = lane(
        &j,
        LaneOp::Expire {
            id: "o1".into(),
            at: jiff::Timestamp::now(),
        },
    )
    .unwrap();
    assert_eq!(out.garbage.len(), 1, "its bytes go");
    assert_eq!(j.object("o1").unwrap().unwrap().state.label(), "expired");
    let key = entry_key(&lane_owner("l"), BoxKind::Inbox, "", "a.csv");
    assert!(j.entry(&key).unwrap().is_none(), "out of the lane");
}

#[test]
fn a_rejection_keeps_the_bytes_and_the_reason_and_never_touches_a_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.redb")).unwrap();
    lane_file(&j, "o1", "a.csv", "std-ope");
    let reject = |by: &str| LaneOp::Reject {
        id: "o1".into(),
        by: by.into(),
        at: jiff::Timestamp::now(),
        reason: "宛先が誤っています".into(),
    };
    assert!(lane(&j, reject("std-ope")).is_err(), "not by its sender");
    let out = lane(&j, reject("boss")).unwrap();
    assert!(out.garbage.is_empty(), "kept for the operator");
    let o = j.object("o1").unwrap().unwrap();
    assert_eq!(o.state.label(), "rejected");
    let c = o.check.unwrap();
    assert_eq!(c.reason.as_deref(), Some("宛先が誤っています"));
    assert!(c.ran.contains(&"approval:boss".to_string()));
    // A municipality's file is no lane's: the lane operations refuse it.
    commit(&j, "b.csv", "t1", "bt", false).unwrap();
    let approve = LaneOp::Approve {
        id: "t1".into(),
        by: "boss".into(),
        at: jiff::Timestamp::now(),
        needed: 1,
    };
    assert!(matches!(
        lane(&j, approve),
        Err(ApplyError::Op(OpError::NotFound))
    ));
    assert_eq!(j.object("t1").unwrap().unwrap().state, ObjectState::Stored);
}
