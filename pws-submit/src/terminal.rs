//! Text that peers wrote (task logs, results, error messages, engine names, addresses)
//! reaches a person's terminal. Control characters in it could move the cursor, rewrite
//! lines already shown, or change the terminal's settings, so whatever a peer wrote is
//! printed through one of these.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every control character except tab shown as a visible `\u{..}` escape.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(
        text,
        |c| c.is_control() && c != '\t',
        |out, c| write!(out, "\\u{{{:x}}}", u32::from(c)),
    )
}

/// A line of JSON with DEL and the C1 controls (which JSON allows raw in strings) written
/// as `\u00XX`: the same JSON value, safe to show on a terminal. JSON already escapes the
/// other control characters.
pub fn safe_json(text: &str) -> Cow<'_, str> {
    escape(text, char::is_control, |out, c| {
        write!(out, "\\u{:04x}", u32::from(c))
    })
}

fn escape(
    text: &str,
    needs_escape: impl Fn(char) -> bool,
    write_escape: impl Fn(&mut String, char) -> std::fmt::Result,
) -> Cow<'_, str> {
    if !text.chars().any(&needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            write_escape(&mut out, c).expect("writing to a String cannot fail");
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(printable("plain\ttext"), "plain\ttext");
        assert_eq!(
            printable("\u{1b}[2J\u{1b}]0;owned\u{7}"),
            "\\u{1b}[2J\\u{1b}]0;owned\\u{7}"
        );
        assert_eq!(printable("a\r\nb\u{9b}c"), "a\\u{d}\\u{a}b\\u{9b}c");
    }

    #[test]
    fn json_keeps_its_value() {
        let value = serde_json::json!({"s": "\u{1b}[31m red \u{7f}\u{9b}1m é"});
        let text = value.to_string();
        let safe = safe_json(&text);
        assert!(!safe.chars().any(char::is_control), "{safe}");
        assert_eq!(serde_json::from_str::<Value>(&safe).unwrap(), value);
    }
}
