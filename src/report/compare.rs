//! Rendering of the compare command's result (schema: docs/report.md, section "compare").

use serde_json::Value;

use crate::compare::{Comparison, ScopeSummary};
use crate::exit::Exit;
use crate::report::Render;

impl Render for Comparison {
    fn command(&self) -> &'static str {
        "compare"
    }

    fn exit(&self) -> Exit {
        Comparison::exit(self)
    }

    fn human(&self) -> String {
        human(self)
    }

    fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn byte(b: Option<u8>) -> String {
    match b {
        Some(b) => format!("0x{b:02x}"),
        None => "(end of file)".into(),
    }
}

fn human(c: &Comparison) -> String {
    let mut s = String::new();
    if c.identical {
        s.push_str(&format!(
            "identical: {} bytes, byte for byte\n",
            thousands(c.official.size)
        ));
        return s;
    }
    if let Some(f) = &c.first_difference {
        s.push_str(&format!(
            "differ: first difference at offset {} (0x{:x}): official {}, rebuilt {}\n",
            f.offset,
            f.offset,
            byte(f.official_byte),
            byte(f.rebuilt_byte)
        ));
        s.push_str(&format!("  official: {}\n", f.official_location));
        s.push_str(&format!("  rebuilt:  {}\n", f.rebuilt_location));
    }
    let sizes = if c.sizes_equal {
        format!("sizes equal ({})", c.official.size)
    } else {
        format!(
            "sizes differ: official {}, rebuilt {}",
            c.official.size, c.rebuilt.size
        )
    };
    s.push_str(&format!(
        "  {} differing region{}, {} differing byte{}; {sizes}\n",
        thousands(c.regions_total),
        if c.regions_total == 1 { "" } else { "s" },
        thousands(c.differing_bytes),
        if c.differing_bytes == 1 { "" } else { "s" },
    ));
    if c.official.format != c.rebuilt.format {
        s.push_str(&format!(
            "  formats differ: official {}, rebuilt {}\n",
            c.official.format, c.rebuilt.format
        ));
    }
    if c.regions.len() > 1 || (c.regions_total as usize) > c.regions.len() {
        s.push_str(&format!("  regions (first {}):\n", c.regions.len()));
        for r in &c.regions {
            s.push_str(&format!(
                "    {} (0x{:x}) +{} ({} differing){}\n      official: {}\n      rebuilt:  {}\n",
                r.start,
                r.start,
                r.length,
                r.differing_bytes,
                if r.beyond_end {
                    ", past the end of the shorter image"
                } else {
                    ""
                },
                r.official_location,
                r.rebuilt_location
            ));
        }
    }
    for scope in &c.content {
        s.push_str(&scope_line(scope));
    }
    for (side, info) in [("official", &c.official), ("rebuilt", &c.rebuilt)] {
        for n in &info.notes {
            s.push_str(&format!("  note ({side}): {n}\n"));
        }
    }
    if let Some(d) = &c.diffoscope {
        match d.status {
            "not_installed" => s.push_str(
                "  diffoscope: not installed (install it to see inner file differences)\n",
            ),
            "nothing_to_compare" => s.push_str("  diffoscope: no file whose content differs\n"),
            _ => {
                for f in &d.files {
                    s.push_str(&format!(
                        "  diffoscope on {} in {}: {}{}\n",
                        f.path,
                        f.scope,
                        f.status,
                        f.message
                            .as_ref()
                            .map(|m| format!(" ({m})"))
                            .unwrap_or_default()
                    ));
                    for line in f.output.lines() {
                        s.push_str(&format!("    {line}\n"));
                    }
                    if f.truncated {
                        s.push_str("    … (output truncated)\n");
                    }
                }
            }
        }
    }
    s
}

fn list(l: &crate::compare::content::NameList) -> String {
    if l.total == 0 {
        return "0".into();
    }
    let shown: Vec<String> = l.names.iter().take(5).map(|n| n.to_string()).collect();
    let more = if l.total > shown.len() as u64 {
        ", …"
    } else {
        ""
    };
    format!("{} ({}{more})", l.total, shown.join(", "))
}

fn scope_line(scope: &ScopeSummary) -> String {
    let name = if scope.format == "iso9660" {
        "ISO 9660 tree".to_string()
    } else {
        format!("{} (SquashFS)", scope.scope)
    };
    let mut s = format!(
        "  {name}: files whose content differs: {}; only in official: {}; only in rebuilt: {}; metadata differs: {}\n",
        list(&scope.content_differs),
        list(&scope.only_in_official),
        list(&scope.only_in_rebuilt),
        scope.metadata_differs_total
    );
    if scope.stored_differs_only.total > 0 {
        s.push_str(&format!(
            "    stored differently, same content: {}\n",
            list(&scope.stored_differs_only)
        ));
    }
    for m in scope.metadata_differs.iter().take(5) {
        s.push_str(&format!(
            "    metadata of {}: {}\n",
            m.path,
            m.fields.join(", ")
        ));
    }
    if scope.not_compared.total > 0 {
        s.push_str(&format!(
            "    could not compare: {}\n",
            list(&scope.not_compared)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(3208), "3,208");
        assert_eq!(thousands(1217341440), "1,217,341,440");
    }
}
