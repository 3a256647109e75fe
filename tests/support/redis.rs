//! A real `redis-server` for the team tests: a free port, a password, no persistence,
//! stopped by PID when dropped. Without the binary the tests say so and pass, except under
//! CI, where that is a failure.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct Redis {
    child: Child,
    pub(crate) port: u16,
    pub(crate) password: String,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub(crate) fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the team tests against redis-server (.ci/run installs it)"
            );
            eprintln!("redis-server is not installed; skipping the team tests");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Some(Self::on(port))
    }

    pub(crate) fn on(port: u16) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let password = "team-test-password-7f3a".to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--requirepass", &password])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            password,
            _dir: dir,
        }
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Redis {
    /// The URL with its password, as an analyst's `LRX_TEAM_URL` holds it.
    pub(crate) fn url_text(&self) -> String {
        format!("redis://:{}@127.0.0.1:{}/0", self.password, self.port)
    }
}
