//! The only place that writes to stdout: human text or a versioned JSON document.
//!
//! Every command's result implements [`Render`]; [`emit`] picks the form. Errors are
//! reported through [`emit_error`]: on stderr for people, and as a JSON document on
//! stdout with `--json`, so a script always gets one parseable answer.

pub mod authenticate;
pub mod compare;
pub mod list;
pub mod verify;

use std::io::Write;

use serde_json::{json, Value};

use crate::cli::OutputArgs;
use crate::exit::{Exit, Failure};

/// Version of the JSON report schema (docs/report.md). Bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A command's result, as text for people and as JSON for programs.
pub trait Render {
    /// Name of the command in the JSON envelope (`verify`, `authenticate`, …).
    fn command(&self) -> &'static str;
    /// The exit code this result means.
    fn exit(&self) -> Exit;
    /// Human-readable lines, each ending in `\n`.
    fn human(&self) -> String;
    /// The command-specific JSON fields, merged into the envelope.
    fn json(&self) -> Value;
}

/// Writes a result to stdout in the chosen form and returns its exit code.
pub fn emit(out: &OutputArgs, result: &dyn Render) -> Exit {
    let exit = result.exit();
    let text = if out.json {
        let mut doc = envelope(result.command(), exit);
        if let (Value::Object(doc), Value::Object(fields)) = (&mut doc, result.json()) {
            doc.extend(fields);
        }
        format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        )
    } else {
        result.human()
    };
    write_stdout(&text);
    exit
}

/// Reports a failure and returns its exit code.
pub fn emit_error(out: &OutputArgs, command: &str, err: &dyn Failure) -> Exit {
    let exit = err.exit();
    let message = error_chain(err);
    if out.json {
        let mut doc = envelope(command, exit);
        doc["error"] = json!({ "message": message, "kind": kind_name(exit) });
        write_stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
    } else {
        eprintln!("verify-release: error: {message}");
    }
    exit
}

/// The error and its sources, joined the way people read them.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !message.contains(&s_text) {
            message.push_str(": ");
            message.push_str(&s_text);
        }
        source = s.source();
    }
    message
}

fn kind_name(exit: Exit) -> &'static str {
    match exit {
        Exit::Verified => "none",
        Exit::Differs => "differs",
        Exit::Usage => "usage",
        Exit::Authenticity => "authenticity",
        Exit::Incomplete => "incomplete",
    }
}

fn envelope(command: &str, exit: Exit) -> Value {
    json!({
        "schema": "verify-release/report",
        "schema_version": SCHEMA_VERSION,
        "tool_version": env!("CARGO_PKG_VERSION"),
        "command": command,
        "exit_code": exit.code(),
    })
}

fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not worth a panic; the exit code still tells.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}
