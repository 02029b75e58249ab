//! The HTTPS front door in tests: a certificate made for the test, web
//! logins written as `renkei passwd` writes them, and a browser-like
//! client built on curl (a cookie jar, the page's CSRF token, the
//! certificate checked against the test's own CA file).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::{BIN, Daemon};

/// A self-signed certificate for localhost and the loopback addresses the
/// tests listen on; returns (cert, key) paths.
pub fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "127.0.0.2".to_string(),
        "127.0.0.3".to_string(),
    ])
    .unwrap();
    let (cert, key) = (dir.join("web.crt"), dir.join("web.key"));
    fs::write(&cert, made.cert.pem()).unwrap();
    fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// The `web_password = "…"` line `renkei passwd` prints for `password`.
pub fn password_line(user: &str, password: &str) -> String {
    passwd_line(&[], user, password, "web_password")
}

/// The line starting with `key` that `renkei passwd ARGS USER` prints for
/// `password`.
pub fn passwd_line(args: &[&str], user: &str, password: &str, key: &str) -> String {
    let out = Command::new(BIN)
        .arg("passwd")
        .args(args)
        .arg(user)
        .stdin_file(password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap()
        .to_string()
}

trait StdinText {
    fn stdin_file(&mut self, text: &str) -> &mut Self;
}

impl StdinText for Command {
    /// Gives the command `text` and a newline on stdin (through a file,
    /// so nothing has to be written while it runs).
    fn stdin_file(&mut self, text: &str) -> &mut Self {
        let f = tempfile::NamedTempFile::new().unwrap();
        fs::write(f.path(), format!("{text}\n")).unwrap();
        let file = fs::File::open(f.path()).unwrap();
        self.stdin(file)
    }
}

/// A `[web]` table listening on 127.0.0.1 with the given certificate.
pub fn web_table(cert: &Path, key: &Path, extra: &str) -> String {
    format!(
        "\n[web]\nlisten = [\"127.0.0.1:0\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{extra}\n",
        cert.display(),
        key.display()
    )
}

impl Daemon {
    /// The bound address of a web listener (`staff` or `segment:<name>`).
    pub fn web_addr(&self, door: &str) -> String {
        self.listener("web", door)
    }

    /// The bound address of the listener `name` of the TLS door
    /// `section` (`web`, `ftps`), as `ctl status` shows it.
    pub fn listener(&self, section: &str, name: &str) -> String {
        let v: Value = self.status_json();
        v[section]["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l[0] == name)
            .and_then(|l| l[1].as_str())
            .unwrap_or_else(|| panic!("no {section} listener {name}: {v}"))
            .to_string()
    }
}

/// What one request got.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// A browser-like HTTPS client: one cookie jar, like one browser profile.
pub struct Browser {
    base: String,
    cacert: PathBuf,
    jar: PathBuf,
    dir: tempfile::TempDir,
    /// Source address (segment listeners admit their networks only).
    from: Option<String>,
    /// Client certificate and key (PEM), for pinned logins.
    client: Option<(PathBuf, PathBuf)>,
}

impl Browser {
    pub fn new(addr: &str, cacert: &Path) -> Browser {
        let dir = tempfile::tempdir().unwrap();
        Browser {
            base: format!("https://{addr}"),
            cacert: cacert.to_path_buf(),
            jar: dir.path().join("cookies"),
            dir,
            from: None,
            client: None,
        }
    }

    pub fn from(mut self, ip: &str) -> Browser {
        self.from = Some(ip.to_string());
        self
    }

    pub fn with_client_cert(mut self, cert: &Path, key: &Path) -> Browser {
        self.client = Some((cert.to_path_buf(), key.to_path_buf()));
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `NAME=VALUE` of a cookie in the jar (curl's Netscape format).
    pub fn cookie(&self, name: &str) -> Option<String> {
        fs::read_to_string(&self.jar).ok()?.lines().find_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols.len() == 7 && cols[5] == name).then(|| format!("{name}={}", cols[6]))
        })
    }

    /// curl with this browser's jar, CA and source; `args` follow.
    pub fn curl(&self, args: &[&str]) -> Output {
        let mut c = Command::new("curl");
        c.args(["-sS", "--max-time", "60", "--cacert"])
            .arg(&self.cacert)
            .arg("-c")
            .arg(&self.jar)
            .arg("-b")
            .arg(&self.jar);
        if let Some(ip) = &self.from {
            c.args(["--interface", ip]);
        }
        if let Some((cert, key)) = &self.client {
            c.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        c.args(args).output().unwrap()
    }

    /// One request; `args` are curl's, the URL is `base + path`.
    pub fn request(&self, path: &str, args: &[&str]) -> Answer {
        let headers = self.dir.path().join("headers");
        let body = self.dir.path().join("body");
        let url = format!("{}{path}", self.base);
        let mut all: Vec<&str> = vec![
            "-D",
            headers.to_str().unwrap(),
            "-o",
            body.to_str().unwrap(),
            "-w",
            "%{http_code}",
        ];
        all.extend_from_slice(args);
        all.push(&url);
        let out = self.curl(&all);
        let status = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        Answer {
            status,
            headers: fs::read_to_string(&headers).unwrap_or_default(),
            body: String::from_utf8_lossy(&fs::read(&body).unwrap_or_default()).into_owned(),
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request(path, &[])
    }

    /// Downloads to `out`; returns the status.
    pub fn download(&self, path: &str, out: &Path) -> u16 {
        let url = format!("{}{path}", self.base);
        let o = self.curl(&["-o", out.to_str().unwrap(), "-w", "%{http_code}", &url]);
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// A form POST (URL-encoded).
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let pairs: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = Vec::new();
        for p in &pairs {
            args.push("--data-urlencode");
            args.push(p.as_str());
        }
        self.request(path, &args)
    }

    /// Logs in through the login form, as a browser does.
    pub fn login(&self, user: &str, password: &str, totp: &str) -> Answer {
        let page = self.get("/login");
        let token = hidden(&page.body, "token").unwrap_or_default();
        self.post(
            "/login",
            &[
                ("token", &token),
                ("user", user),
                ("password", password),
                ("totp", totp),
            ],
        )
    }

    /// The CSRF token of the page at `path`.
    pub fn csrf(&self, path: &str) -> String {
        let page = self.get(path);
        hidden(&page.body, "csrf").unwrap_or_else(|| panic!("no csrf token on {path}: {page:?}"))
    }

    /// Uploads `file` into the directory page `dir` (`/inbox`…) as the
    /// page's script does (token in the header), or with `token` as given.
    pub fn upload(&self, dir: &str, file: &Path, token: Option<&str>) -> Answer {
        let field = format!("file=@{}", file.display());
        let mut args = vec!["-H", "Accept: application/json", "-F", field.as_str()];
        let header;
        if let Some(t) = token {
            header = format!("X-CSRF-Token: {t}");
            args.push("-H");
            args.push(&header);
        }
        self.request(&format!("/upload{dir}"), &args)
    }
}

/// The value of the hidden input `name` on a page.
pub fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page.find(&marker)? + marker.len();
    let end = page[at..].find('"')?;
    Some(page[at..at + end].to_string())
}

/// Percent-encodes a path for a URL (keeps `/`).
pub fn url(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
