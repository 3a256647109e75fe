//! JSON laid out one member per line, for reading a payload the service sent on one line.
//! Only whitespace between tokens changes: keys keep the order they came in, numbers and
//! strings keep their exact spelling (escapes included), so what is shown is still what
//! was sent.

/// `text` re-indented by two spaces a level, or `None` when it is not one JSON value.
pub fn indent_json(text: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                while let Some(c) = chars.next() {
                    out.push(c);
                    match c {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(char::is_ascii_whitespace) {
                    chars.next();
                }
                if chars.peek().is_some_and(|next| matches!(next, '}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::indent_json;

    #[test]
    fn members_go_one_a_line_in_the_order_they_came() {
        let sent = r#"{"zeta":1,"script_output":"a, b: {c}\n\"q\"","list":[1.50,2e3,[]],"empty":{},"esc":"\u001b[31m"}"#;
        let shown = indent_json(sent).expect("json");
        assert_eq!(
            shown,
            "{\n  \"zeta\": 1,\n  \"script_output\": \"a, b: {c}\\n\\\"q\\\"\",\n  \"list\": [\n    1.50,\n    2e3,\n    []\n  ],\n  \"empty\": {},\n  \"esc\": \"\\u001b[31m\"\n}"
        );
        // Only whitespace between tokens changed.
        let squeeze = |s: &str| -> String {
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(s).expect("json"))
                .expect("json")
        };
        assert_eq!(squeeze(&shown), squeeze(sent));
    }

    #[test]
    fn what_is_not_json_is_left_alone() {
        assert_eq!(indent_json("Transcript started {"), None);
        assert_eq!(indent_json(r#"{"a":1} trailing"#), None);
        assert_eq!(indent_json(" [ ] ").as_deref(), Some("[]"));
    }
}
