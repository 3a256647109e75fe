//! The terminal is given back whole however lrx ends: the real binary in a real pty
//! (Python's `pty`, which every CI image here has), ended by a signal from outside, must
//! leave the alternate screen, show the cursor, stop mouse reporting and bracketed paste,
//! and leave the terminal in cooked mode.

use std::process::Command;

const DRIVER: &str = r#"
import fcntl, json, os, pty, select, signal, struct, sys, termios, time
lrx, which = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    # A fresh pty has no size; a terminal always has one.
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    os.execv(lrx, [lrx, "--demo", "--mouse"])
out = b""
def read_for(seconds, until=None):
    global out
    end = time.time() + seconds
    while time.time() < end:
        if until is not None and until in out:
            return True
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return False
            if not chunk:
                return False
            out += chunk
    return until is None or until in out
started = read_for(60, b"Machine")
mark = len(out)
os.kill(pid, getattr(signal, which))
read_for(10)
_, status = os.waitpid(pid, 0)
attrs = termios.tcgetattr(fd)
tail = out[mark:].decode("latin-1")
print(json.dumps({
    "started": started,
    "exited": os.WIFEXITED(status),
    "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1,
    "leaves_alternate_screen": "\x1b[?1049l" in tail,
    "shows_cursor": "\x1b[?25h" in tail,
    "mouse_off": "\x1b[?1000l" in tail,
    "paste_off": "\x1b[?2004l" in tail,
    "cooked": bool(attrs[3] & termios.ICANON) and bool(attrs[3] & termios.ECHO),
    "seen": out[-400:].decode("latin-1"),
}))
"#;

fn python() -> Option<&'static str> {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the pty test: python3 is missing"
        );
        eprintln!("python3 is not available; skipping the pty test");
    }
    found.then_some("python3")
}

#[test]
fn every_signal_from_outside_gives_the_terminal_back() {
    let Some(python) = python() else { return };
    for signal in ["SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM"] {
        let home = tempfile::tempdir().expect("home");
        let mut command = lrx::fixtures::isolated(python, home.path());
        let output = command
            .args(["-c", DRIVER, env!("CARGO_BIN_EXE_lrx"), signal])
            .env("TERM", "xterm-256color")
            .output()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{signal}: {e}: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        assert_eq!(report["started"], true, "{signal}: the UI never drew");
        assert_eq!(
            report["exited"], true,
            "{signal}: killed instead of quitting: {report}"
        );
        for restored in [
            "leaves_alternate_screen",
            "shows_cursor",
            "mouse_off",
            "paste_off",
            "cooked",
        ] {
            assert_eq!(report[restored], true, "{signal}: {restored}: {report}");
        }
        let scratch = std::fs::read_dir(home.path().join("state/lrx")).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("scratch-"))
                .count()
        });
        assert_eq!(
            scratch, 0,
            "{signal}: the demo's scratch directory was left behind"
        );
    }
}
