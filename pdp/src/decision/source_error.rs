//! Errors that point into a Rego source file.
//!
//! The engine reports every problem as one preformatted string (location,
//! source line with a caret, message). This module recovers the parts, so
//! that the service can show `file:line:col`, the line and the reason in the
//! CLI, in `/v1/status` and in the log, and count them one by one.

use std::fmt;

/// A problem at a place in a Rego file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceError {
    /// The file, relative to its bundle.
    pub file: String,
    /// 1-based line; 0 when the engine gave no location.
    pub line: u32,
    /// 1-based column; 0 when the engine gave no location.
    pub col: u32,
    /// The text of the offending line.
    pub source_line: String,
    /// What is wrong.
    pub message: String,
}

impl SourceError {
    /// An error about a whole file (no line).
    pub fn in_file(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: 0,
            col: 0,
            source_line: String::new(),
            message: message.into(),
        }
    }

    /// An error at a known position of `source`.
    pub fn at(file: &str, source: &str, line: u32, col: u32, message: impl Into<String>) -> Self {
        let source_line = source
            .lines()
            .nth(line.saturating_sub(1) as usize)
            .unwrap_or("")
            .to_owned();
        Self {
            file: file.to_owned(),
            line,
            col,
            source_line,
            message: message.into(),
        }
    }

    /// Recovers the parts of an engine error. `fallback_file` is used when
    /// the message carries no location.
    pub fn from_engine(err: &anyhow::Error, fallback_file: &str) -> Self {
        Self::from_engine_text(&format!("{err:#}"), fallback_file)
    }

    /// Recovers the parts of an engine error message.
    ///
    /// The engine writes `--> file:line:col`, then the line between `|`
    /// gutters, a caret line, and `error: message`. Anything before the
    /// arrow (context added by a caller) is kept in front of the message.
    pub fn from_engine_text(text: &str, fallback_file: &str) -> Self {
        let Some(arrow) = text.find("--> ") else {
            return Self::in_file(fallback_file, text.trim());
        };
        let prefix = text[..arrow].trim().trim_end_matches(':').trim();
        let rest = &text[arrow + 4..];
        let mut lines = rest.lines();
        let location = lines.next().unwrap_or("");

        // `file:line:col`, where the file name itself may hold colons.
        let mut parts = location.rsplitn(3, ':');
        let col: Option<u32> = parts.next().and_then(|c| c.trim().parse().ok());
        let line: Option<u32> = parts.next().and_then(|l| l.trim().parse().ok());
        let file = parts.next().unwrap_or(fallback_file).to_owned();
        let (Some(line), Some(col)) = (line, col) else {
            return Self::in_file(fallback_file, text.trim());
        };

        let mut source_line = String::new();
        let mut message = Vec::new();
        let mut seen_source = false;
        for raw in lines {
            if let Some((gutter, code)) = raw.split_once('|') {
                if !seen_source && gutter.trim() == line.to_string() {
                    source_line = code.strip_prefix(' ').unwrap_or(code).to_owned();
                    seen_source = true;
                }
                continue;
            }
            let trimmed = raw.trim();
            let trimmed = trimmed.strip_prefix("error: ").unwrap_or(trimmed);
            if !trimmed.is_empty() {
                message.push(trimmed.to_owned());
            }
        }

        let mut message = message.join(": ");
        if !prefix.is_empty() {
            message = format!("{prefix}: {message}");
        }
        Self {
            file,
            line,
            col,
            source_line,
            message,
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )?;
        if !self.source_line.is_empty() {
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            let caret = " ".repeat(self.col.saturating_sub(1) as usize);
            write!(f, "\n {gutter} | {}\n {pad} | {caret}^", self.source_line)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_location_line_and_message_from_engine_text() {
        let text = "\n--> policy.rego:2:23\n  |\n2 | allow if { input.x == = 1 }\n  |                       ^\nerror: expecting expression";
        let err = SourceError::from_engine_text(text, "x.rego");
        assert_eq!(err.file, "policy.rego");
        assert_eq!((err.line, err.col), (2, 23));
        assert_eq!(err.source_line, "allow if { input.x == = 1 }");
        assert_eq!(err.message, "expecting expression");
        assert_eq!(
            err.to_string(),
            "policy.rego:2:23: expecting expression\n 2 | allow if { input.x == = 1 }\n   |                       ^"
        );
    }

    #[test]
    fn keeps_text_without_location_as_a_file_error() {
        let err = SourceError::from_engine_text("not a valid rule path", "a.rego");
        assert_eq!(err, SourceError::in_file("a.rego", "not a valid rule path"));
        assert_eq!(err.to_string(), "a.rego: not a valid rule path");
    }

    #[test]
    fn keeps_context_written_before_the_location() {
        let text = "recursion found:\n--> a.rego:3:1\n  |\n3 | p if q\n  | ^\nerror: cycle";
        let err = SourceError::from_engine_text(text, "x");
        assert_eq!(err.message, "recursion found: cycle");
        assert_eq!(err.line, 3);
    }
}
