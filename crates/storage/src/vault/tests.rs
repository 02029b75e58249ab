use std::sync::Arc;

use super::*;

fn vault(dir: &Path) -> Arc<Vault> {
    Arc::new(Vault::open(&dir.join("vault.key"), &dir.join("blobs")).unwrap())
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn roundtrip_multi_segment_random_access() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let a = pattern(200_000, 1);
    let b = pattern(65_536, 2);
    let c = pattern(10, 3);
    let mut segs = Vec::new();
    for part in [&a, &b, &c] {
        let mut w = v.create_segment().unwrap();
        w.write_all(part).unwrap();
        segs.push(w.finish().unwrap());
    }
    let whole: Vec<u8> = [a, b, c].concat();
    let mut r = ObjectReader::open(Arc::clone(&v), &segs).unwrap();
    assert_eq!(r.size(), whole.len() as u64);
    for (off, len) in [
        (0, 10),
        (199_990, 40),
        (265_530, 100),
        (70_000, 200_000),
        (265_545, 10),
    ] {
        let mut buf = vec![0u8; len];
        let n = r.read_at(off as u64, &mut buf).unwrap();
        let end = (off + len).min(whole.len());
        assert_eq!(&buf[..n], &whole[off..end], "read at {off}");
    }
    let mut all = Vec::new();
    r.for_each_chunk(|c| all.extend_from_slice(c)).unwrap();
    assert_eq!(all, whole);
}

#[test]
fn no_plaintext_on_disk_and_tamper_detected() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let marker = b"RENKEI-PLAINTEXT-MARKER ".repeat(5000);
    let mut w = v.create_segment().unwrap();
    w.write_all(&marker).unwrap();
    let seg = w.finish().unwrap();
    let path = dir
        .path()
        .join("blobs")
        .join(&seg.blob[..2])
        .join(format!("{}.age", seg.blob));
    let mut raw = fs::read(&path).unwrap();
    assert!(!raw.windows(23).any(|w| w == b"RENKEI-PLAINTEXT-MARKER"));
    let n = raw.len();
    raw[n / 2] ^= 1;
    fs::write(&path, &raw).unwrap();
    let mut r = ObjectReader::open(Arc::clone(&v), &[seg]).unwrap();
    let mut buf = vec![0u8; marker.len()];
    assert!(matches!(
        r.read_at(0, &mut buf),
        Err(VaultError::Decrypt { .. })
    ));
}

#[test]
fn dropped_writer_leaves_nothing_and_scan_finds_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let mut w = v.create_segment().unwrap();
    w.write_all(b"abc").unwrap();
    drop(w);
    assert!(v.scan().unwrap().0.is_empty());
    let mut w = v.create_segment().unwrap();
    w.write_all(b"abc").unwrap();
    let seg = w.finish().unwrap();
    assert_eq!(v.scan().unwrap().0, vec![seg.blob.clone()]);
    v.remove(&seg.blob).unwrap();
    v.remove(&seg.blob).unwrap();
    assert!(matches!(
        v.remove("../../etc/passwd"),
        Err(VaultError::BadId(_))
    ));
}

#[test]
fn vault_key_is_private_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let r1 = vault(dir.path()).recipient();
    let r2 = vault(dir.path()).recipient();
    assert_eq!(r1, r2);
    use std::os::unix::fs::PermissionsExt;
    let key = dir.path().join("vault.key");
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let err = Vault::open(&key, &dir.path().join("blobs")).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}
