//! A real PostgreSQL for the tests (Debian's postgresql 15): one cluster
//! per test, copied from a template cluster made once per build with
//! `initdb`, listening on its own loopback port and socket directory, with
//! password (SCRAM) authentication as a production server has.
//!
//! `initdb` and `postgres` refuse to run as root: as root they run as the
//! `postgres` user (runuser), and the cluster's directory is theirs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::sshd::free_port;

const BIN: &str = "/usr/lib/postgresql/15/bin";
pub const USER: &str = "renkei";
pub const PASSWORD: &str = "pg-test-password";

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs a PostgreSQL program as the user that owns clusters.
fn as_owner(program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &format!("{BIN}/{program}")]);
        c
    } else {
        Command::new(format!("{BIN}/{program}"))
    }
}

fn give_to_owner(path: &Path) {
    if is_root() {
        let st = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success(), "chown {}", path.display());
    }
}

/// The template cluster, made once (racing test processes each make one
/// and the first rename wins).
fn template() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let done = root.join("pg-template-15");
    if done.join("PG_VERSION").exists() {
        return done;
    }
    let work = root.join(format!("pg-template-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).unwrap();
    fs::set_permissions(&work, fs::Permissions::from_mode(0o755)).unwrap();
    let pw = work.join("pw");
    fs::write(&pw, PASSWORD).unwrap();
    give_to_owner(&work);
    let data = work.join("data");
    let out = as_owner("initdb")
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            USER,
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ])
        .arg(format!("--pwfile={}", pw.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if fs::rename(&data, &done).is_err() {
        assert!(done.join("PG_VERSION").exists(), "template cluster");
    }
    let _ = fs::remove_dir_all(&work);
    done
}

/// One running cluster, stopped and removed when dropped.
pub struct Postgres {
    root: tempfile::TempDir,
    /// The CA the server's certificate chains to, when it speaks TLS (and
    /// nothing else).
    pub ca_file: Option<PathBuf>,
    pub port: u16,
    /// What `[storage] journal` says.
    pub url: String,
    /// The password, in a file only its owner reads.
    pub password_file: PathBuf,
}

/// Runs openssl in `dir`, asserting it worked.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.crt`) and, when `server`, a certificate for 127.0.0.1 it
/// signed (`server.crt`, `server.key`), in `dir`.
pub fn make_ca(dir: &Path, server: bool) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=renkei-test-ca"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
    openssl(dir, &ca);
    if server {
        let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
        csr.extend(ec);
        csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
        openssl(dir, &csr);
        fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "server.crt",
            ],
        );
    }
}

impl Postgres {
    /// A cluster that accepts TCP connections over TLS only
    /// (`hostssl`), with a certificate for 127.0.0.1 from its own CA.
    pub fn start_tls() -> Postgres {
        let mut pg = Postgres::unstarted();
        let data = pg.data();
        make_ca(pg.root.path(), true);
        for f in ["server.crt", "server.key"] {
            fs::copy(pg.root.path().join(f), data.join(f)).unwrap();
            fs::set_permissions(data.join(f), fs::Permissions::from_mode(0o600)).unwrap();
        }
        give_to_owner(pg.root.path());
        let hba = fs::read_to_string(data.join("pg_hba.conf")).unwrap();
        let only_tls: String = hba
            .lines()
            .map(|l| {
                if l.starts_with("host ") {
                    l.replacen("host ", "hostssl ", 1)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        fs::write(data.join("pg_hba.conf"), only_tls).unwrap();
        pg.ca_file = Some(pg.root.path().join("ca.crt"));
        pg.start_again();
        pg
    }

    pub fn start() -> Postgres {
        let pg = Postgres::unstarted();
        pg.start_again();
        pg
    }

    fn unstarted() -> Postgres {
        let template = template();
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let data = root.path().join("data");
        let st = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(&data)
            .status()
            .unwrap();
        assert!(st.success(), "copy the template cluster");
        give_to_owner(root.path());
        let password_file = root.path().join("password");
        fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        fs::set_permissions(&password_file, fs::Permissions::from_mode(0o600)).unwrap();
        let port = free_port();
        Postgres {
            url: format!("postgresql://{USER}@127.0.0.1:{port}/postgres"),
            root,
            ca_file: None,
            port,
            password_file,
        }
    }

    /// The cluster's files (for the no-plaintext checks).
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_again(&self) {
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c max_connections=50",
            self.port,
            self.root.path().display()
        );
        if self.ca_file.is_some() {
            options.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let out = as_owner("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-w", "-t", "60", "-l"])
            .arg(self.root.path().join("server.log"))
            .arg("start")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            fs::read_to_string(self.root.path().join("server.log")).unwrap_or_default()
        );
    }

    /// Stops the server at once (`immediate`: as if it crashed; recovery
    /// replays its WAL at the next start).
    pub fn stop(&self) {
        let _ = as_owner("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    /// Runs `sql` with psql and returns its unaligned output.
    pub fn sql(&self, sql: &str) -> String {
        let out = Command::new(format!("{BIN}/psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(["-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The `[storage]` table of a daemon whose journal is here.
    pub fn storage_toml(&self) -> String {
        let (url, tls) = match &self.ca_file {
            None => (self.url.clone(), String::new()),
            Some(ca) => (
                format!("{}?sslmode=verify-full", self.url),
                format!("journal_ca_file = \"{}\"\n", ca.display()),
            ),
        };
        format!(
            "[storage]\njournal = \"{url}\"\njournal_password_file = \"{}\"\njournal_timeout = \"5s\"\n{tls}\n",
            self.password_file.display()
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether this run keeps the daemons' journals in PostgreSQL
/// (`RENKEI_TEST_JOURNAL=postgres`; scripts/test.sh runs the storage
/// tests a second time so, with `RENKEI_TEST_BLOBS=s3`).
pub fn journal_in_postgres() -> bool {
    std::env::var("RENKEI_TEST_JOURNAL").is_ok_and(|v| v == "postgres")
}
