//! A real S3-compatible server for the tests: Garage (from crates.io,
//! installed by scripts/test.sh), one single-node cluster per test on its
//! own loopback ports, with a bucket and a key made through its own CLI.
//! `rclone` (Debian) reads the bucket back as any S3 client would.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::Duration;

use super::eventually;
use super::sshd::free_port;

pub const BUCKET: &str = "renkei";

fn garage_bin() -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    let installed = home.join("bin/garage");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("garage")
    }
}

/// One running Garage, killed when dropped.
pub struct Garage {
    root: tempfile::TempDir,
    child: Option<Child>,
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
    /// AWS-style credentials, owner-only, for `[storage]`.
    pub credentials_file: PathBuf,
    s3_port: u16,
    rpc_port: u16,
}

impl Garage {
    pub fn start() -> Garage {
        let root = tempfile::tempdir().unwrap();
        let (s3_port, rpc_port) = (free_port(), free_port());
        let mut g = Garage {
            endpoint: format!("http://127.0.0.1:{s3_port}"),
            credentials_file: root.path().join("s3-credentials"),
            root,
            child: None,
            key_id: String::new(),
            secret: String::new(),
            s3_port,
            rpc_port,
        };
        let secret: String = (0..32)
            .map(|i| format!("{:02x}", (i * 37 + 11) % 256))
            .collect();
        fs::write(
            g.conf(),
            format!(
                "metadata_dir = \"{r}/meta\"\ndata_dir = \"{r}/data\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n[s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\nroot_domain = \".s3.garage.localhost\"\n",
                r = g.root.path().display(),
                rpc = g.rpc_port,
                s3 = g.s3_port,
            ),
        )
        .unwrap();
        g.start_again();
        let node = eventually("garage to list its node", Duration::from_secs(30), || {
            let out = g.cli(&["status"]);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            text.lines()
                .find(|l| l.contains("NO ROLE ASSIGNED") || l.contains("127.0.0.1"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
        });
        g.ok(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        g.ok(&["layout", "apply", "--version", "1"]);
        g.ok(&["bucket", "create", BUCKET]);
        g.ok(&["key", "create", "renkei-key"]);
        g.ok(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            BUCKET,
            "--key",
            "renkei-key",
        ]);
        let info = g.ok(&["key", "info", "renkei-key", "--show-secret"]);
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                .unwrap_or_else(|| panic!("garage key info has no {name}: {info}"))
        };
        g.key_id = field("Key ID:");
        g.secret = field("Secret key:");
        fs::write(
            &g.credentials_file,
            format!(
                "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                g.key_id, g.secret
            ),
        )
        .unwrap();
        fs::set_permissions(&g.credentials_file, fs::Permissions::from_mode(0o600)).unwrap();
        g
    }

    fn conf(&self) -> PathBuf {
        self.root.path().join("garage.toml")
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(garage_bin())
            .arg("-c")
            .arg(self.conf())
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "garage {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Starts the (stopped) server and waits for its S3 port.
    pub fn start_again(&mut self) {
        let log = fs::File::create(self.root.path().join("server.log")).unwrap();
        let child = Command::new(garage_bin())
            .arg("-c")
            .arg(self.conf())
            .arg("server")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("garage starts");
        self.child = Some(child);
        let port = self.s3_port;
        eventually("garage's S3 port", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    /// Kills the server (as a lost network or a crash would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The `[storage]` lines that put a daemon's blobs here.
    pub fn storage_lines(&self) -> String {
        format!(
            "blobs = \"s3://{BUCKET}/vault\"\ns3_endpoint = \"{}\"\ns3_region = \"garage\"\ns3_credentials_file = \"{}\"\ns3_timeout = \"5s\"\n",
            self.endpoint,
            self.credentials_file.display()
        )
    }

    fn rclone_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RCLONE_CONFIG_G_TYPE", "s3".into()),
            ("RCLONE_CONFIG_G_PROVIDER", "Other".into()),
            ("RCLONE_CONFIG_G_ENDPOINT", self.endpoint.clone()),
            ("RCLONE_CONFIG_G_REGION", "garage".into()),
            ("RCLONE_CONFIG_G_ACCESS_KEY_ID", self.key_id.clone()),
            ("RCLONE_CONFIG_G_SECRET_ACCESS_KEY", self.secret.clone()),
            ("RCLONE_CONFIG", "/dev/null".into()),
        ]
    }

    /// rclone against the bucket, as any S3 client.
    pub fn rclone(&self, args: &[&str]) -> Output {
        Command::new("rclone")
            .args(args)
            .envs(self.rclone_env())
            // The AWS SDK inside rclone cannot use a CA bundle with its
            // own transport; the endpoint is plain HTTP on loopback.
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .unwrap()
    }

    /// Keys and sizes of the objects under `prefix/`.
    pub fn objects_sized(&self, prefix: &str) -> Vec<(String, u64)> {
        let out = self.rclone(&[
            "lsjson",
            "-R",
            "--files-only",
            &format!("g:{BUCKET}/{prefix}"),
        ]);
        if !out.status.success() {
            // No object yet under the prefix is no listing at all.
            return Vec::new();
        }
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        list.iter()
            .map(|o| {
                (
                    format!("{prefix}/{}", o["Path"].as_str().unwrap()),
                    o["Size"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// Copies every object under `prefix/` into `dir`, as an auditor
    /// would fetch them.
    pub fn download(&self, prefix: &str, dir: &std::path::Path) {
        let out = self.rclone(&[
            "copy",
            &format!("g:{BUCKET}/{prefix}"),
            dir.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "rclone copy {prefix}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Writes an object (as damage done outside renkei would).
    pub fn put_object(&self, key: &str, bytes: &[u8]) {
        let mut child = Command::new("rclone")
            .args(["rcat", &format!("g:{BUCKET}/{key}")])
            .envs(self.rclone_env())
            .env_remove("AWS_CA_BUNDLE")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        assert!(child.wait().unwrap().success(), "rclone rcat {key}");
    }

    /// Deletes an object (as a loss outside renkei would).
    pub fn delete_object(&self, key: &str) {
        let out = self.rclone(&["deletefile", &format!("g:{BUCKET}/{key}")]);
        assert!(
            out.status.success(),
            "rclone deletefile {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One object's bytes.
    pub fn object(&self, key: &str) -> Vec<u8> {
        let out = self.rclone(&["cat", &format!("g:{BUCKET}/{key}")]);
        assert!(out.status.success(), "rclone cat {key}");
        out.stdout
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}
