//! The FTPS front door in tests: an `[ftps]` table with a certificate made
//! for the test, FTPS logins written as `renkei passwd` writes them, and
//! the three real clients — curl, lftp and Python's ftplib.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use serde_json::Value;

use super::web::{certificate, passwd_line};
use super::{Daemon, PYTHON, default_tenants};

pub const FTPS_CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/ftps.py");

/// The password every FTPS test account has.
pub const PW: &str = "ftps-test-password";
/// The FTPS account of 札幌市 the tests log in as.
pub const USER: &str = "011002-batch";

/// A passive range of its own for each daemon, so that tests running at
/// once rarely meet (a port in use is skipped in any case).
fn passive_range() -> String {
    let seed = std::process::id() as u64 * 7919
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
    let low = 40000 + (seed % 400) * 50;
    format!("{low}-{}", low + 49)
}

/// An `[ftps]` table: explicit and implicit listeners on 127.0.0.1.
pub fn ftps_table(cert: &Path, key: &Path, extra: &str) -> String {
    format!(
        "\n[ftps]\nlisten = [\"127.0.0.1:0\"]\nimplicit_listen = [\"127.0.0.1:0\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"\npassive_ports = \"{}\"\n{extra}\n",
        cert.display(),
        key.display(),
        passive_range()
    )
}

/// The `ftps_password = "…"` line `renkei passwd --ftps` prints.
pub fn ftps_password_line(user: &str, password: &str) -> String {
    passwd_line(&["--ftps"], user, password, "ftps_password")
}

/// A daemon whose 札幌市 has an FTPS account [`USER`] (with `more` in
/// its account table), `[ftps]` with `ftps_extra`, and `extra` after.
pub struct FtpsWorld {
    pub d: Daemon,
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: tempfile::TempDir,
}

impl FtpsWorld {
    pub fn start(account_more: &str, ftps_extra: &str, extra: &str) -> FtpsWorld {
        FtpsWorld::start_with_policies(account_more, ftps_extra, extra, &[])
    }

    pub fn start_with_policies(
        account_more: &str,
        ftps_extra: &str,
        extra: &str,
        policies: &[(&str, &str)],
    ) -> FtpsWorld {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = certificate(dir.path());
        let text = format!(
            "[[tenant.account]]\nuser = \"{USER}\"\n{}\n{account_more}\n{}{extra}",
            ftps_password_line(USER, PW),
            ftps_table(&cert, &key, ftps_extra)
        );
        let d = Daemon::unstarted(default_tenants(), "", &text, policies).started();
        FtpsWorld {
            d,
            cert,
            key,
            _dir: dir,
        }
    }

    /// The bound address of the `explicit` or `implicit` listener.
    pub fn addr(&self, mode: &str) -> String {
        self.d.ftps_addr(mode)
    }

    pub fn port(&self) -> String {
        self.addr("explicit")
            .rsplit(':')
            .next()
            .unwrap()
            .to_string()
    }

    /// Runs the ftplib driver with `steps` as `user`; one JSON value per
    /// step (or one for a refused login).
    pub fn python_as(&self, user: &str, password: &str, steps: &Value) -> Vec<Value> {
        let out = self
            .python_command(user, password, steps, &[])
            .output()
            .unwrap();
        parse_lines(&out)
    }

    pub fn python(&self, steps: &Value) -> Vec<Value> {
        self.python_as(USER, PW, steps)
    }

    /// The ftplib driver's command, not yet run (`client`: certificate
    /// and key to present).
    pub fn python_command(
        &self,
        user: &str,
        password: &str,
        steps: &Value,
        client: &[&Path],
    ) -> Command {
        let mut c = Command::new(PYTHON);
        c.arg(FTPS_CLIENT)
            .args(["127.0.0.1", &self.port(), user, password])
            .arg(&self.cert)
            .arg(steps.to_string())
            .args(client)
            .current_dir(&self.d.work);
        c
    }

    /// curl with FTPS required, certificate checked, as [`USER`].
    pub fn curl(&self, args: &[&str]) -> Output {
        Command::new("curl")
            .args(["-sS", "--ssl-reqd", "--cacert"])
            .arg(&self.cert)
            .args(["--user", &format!("{USER}:{PW}")])
            .args(args)
            .current_dir(&self.d.work)
            .output()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("ftp://{}{path}", self.addr("explicit"))
    }

    /// lftp with `ftp:ssl-force` and protected data, running `script`.
    pub fn lftp(&self, script: &str) -> Output {
        self.lftp_command(script).output().unwrap()
    }

    pub fn lftp_child(&self, script: &str) -> Child {
        self.lftp_command(script).spawn().unwrap()
    }

    fn lftp_command(&self, script: &str) -> Command {
        let settings = format!(
            "set ssl:ca-file {}; set ftp:ssl-force true; set ftp:ssl-protect-data true; set ftp:ssl-protect-list true; set net:max-retries 1; set net:timeout 20; set cmd:fail-exit true; {script}; bye",
            self.cert.display()
        );
        let mut c = Command::new("lftp");
        c.args(["-u", &format!("{USER},{PW}"), "-e", &settings])
            .arg(format!("ftp://localhost:{}", self.port()))
            .current_dir(&self.d.work)
            .stdin(std::process::Stdio::null());
        c
    }
}

fn parse_lines(out: &Output) -> Vec<Value> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !v.is_empty(),
        "ftps.py gave nothing: status {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

/// A reply's text from a step's result.
pub fn reply(v: &Value) -> String {
    v["reply"].as_str().unwrap_or_default().to_string()
}

impl Daemon {
    /// The bound address of the FTPS `explicit` or `implicit` listener.
    pub fn ftps_addr(&self, mode: &str) -> String {
        self.listener("ftps", mode)
    }

    /// The port of the FTPS `explicit` or `implicit` listener.
    pub fn ftps_port(&self, mode: &str) -> String {
        self.ftps_addr(mode).rsplit(':').next().unwrap().to_string()
    }
}
