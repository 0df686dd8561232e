//! SOURCE_DATE_EPOCH for a rebuild, read from the verified tree by the release's rule.
//!
//! Files are read only when they are regular files inside the checkout (a symlink could
//! point anywhere on this machine), and only their first MiB: the key or the top entry
//! is always near the start.

use std::io::Read;
use std::path::Path;

use super::SourceError;
use crate::release::EpochRule;

/// How much of release.toml or debian/changelog is read.
const MAX_READ: u64 = 1 << 20;

/// SOURCE_DATE_EPOCH of the tree at `checkout`, by `rule`.
pub fn source_date_epoch(rule: &EpochRule, checkout: &Path) -> Result<i64, SourceError> {
    match rule {
        EpochRule::Fixed(n) => Ok(*n),
        EpochRule::Recipe => from_recipe(&checkout.join("release.toml"), checkout),
        EpochRule::DebianChangelog => {
            from_changelog(&checkout.join("debian").join("changelog"), checkout)
        }
    }
}

fn from_recipe(path: &Path, root: &Path) -> Result<i64, SourceError> {
    let bad = |reason: String| SourceError::Epoch {
        what: "recipe",
        path: path.to_path_buf(),
        reason,
    };
    let text = read_inside(path, root, "recipe")?;
    let text = std::str::from_utf8(&text).map_err(|_| bad("it is not UTF-8".into()))?;
    let table: toml::Table = toml::from_str(text).map_err(|e| bad(e.message().to_owned()))?;
    match table.get("source_date_epoch") {
        Some(toml::Value::Integer(n)) if *n >= 0 => Ok(*n),
        Some(_) => Err(bad(
            "source_date_epoch must be a non-negative integer (seconds since 1970-01-01 UTC)"
                .into(),
        )),
        None => Err(bad(
            "no source_date_epoch key; the recipe must record its SOURCE_DATE_EPOCH".into(),
        )),
    }
}

/// The date of the top entry: the first trailer line ` -- Name <mail>  DATE`.
fn from_changelog(path: &Path, root: &Path) -> Result<i64, SourceError> {
    let bad = |reason: String| SourceError::Epoch {
        what: "changelog",
        path: path.to_path_buf(),
        reason,
    };
    let text = read_inside(path, root, "changelog")?;
    let line = text
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b" -- "))
        .ok_or_else(|| bad("no \" -- Name <mail>  date\" trailer line in the first MiB".into()))?;
    let line = String::from_utf8_lossy(line);
    let date = line
        .split_once(">  ")
        .map(|(_, d)| d.trim())
        .ok_or_else(|| {
            bad(format!(
                "the trailer line {line:?} has no date after \">  \""
            ))
        })?;
    parse_rfc2822(date).map_err(|e| bad(format!("date {date:?}: {e}")))
}

/// Reads the first MiB of `path`, which must be a regular file reached from `root`
/// without following a symlink.
fn read_inside(path: &Path, root: &Path, what: &'static str) -> Result<Vec<u8>, SourceError> {
    let err = |reason: String| SourceError::Epoch {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut at = root.to_path_buf();
    for part in rel.components() {
        at.push(part);
        let meta = std::fs::symlink_metadata(&at).map_err(|e| err(e.to_string()))?;
        if meta.file_type().is_symlink() {
            return Err(err(format!(
                "{} is a symlink; it is not followed out of the source tree",
                at.display()
            )));
        }
    }
    if !std::fs::symlink_metadata(path)
        .map_err(|e| err(e.to_string()))?
        .is_file()
    {
        return Err(err("not a regular file".into()));
    }
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    file.take(MAX_READ)
        .read_to_end(&mut out)
        .map_err(|e| err(e.to_string()))?;
    Ok(out)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Parses an RFC 2822 date as Debian changelogs write it,
/// `[Day, ]DD Mon YYYY HH:MM[:SS] +hhmm`, into seconds since the epoch. A day name that
/// contradicts the date is an error (tools disagree on what it would mean).
pub fn parse_rfc2822(input: &str) -> Result<i64, String> {
    let mut words: Vec<&str> = input.split_whitespace().collect();
    let weekday = match words.first() {
        Some(w) if w.ends_with(',') => {
            let name = &w[..w.len() - 1];
            let idx = DAYS
                .iter()
                .position(|d| d.eq_ignore_ascii_case(name))
                .ok_or_else(|| format!("unknown day name {name:?}"))?;
            words.remove(0);
            Some(idx)
        }
        _ => None,
    };
    let [day, month, year, time, zone] = words[..] else {
        return Err("expected \"Day, DD Mon YYYY HH:MM:SS +hhmm\"".into());
    };
    let day: u32 = number(day, 1, 31, "day")?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month))
        .ok_or_else(|| format!("unknown month {month:?}"))? as u32
        + 1;
    if year.len() != 4 {
        return Err(format!("year {year:?} is not four digits"));
    }
    let year: i64 = number(year, 1970, 9999, "year")?;
    if day > days_in_month(year, month) {
        return Err(format!("there is no day {day} in month {month} of {year}"));
    }
    let mut hms = time.split(':');
    let hour: i64 = number(hms.next().unwrap_or(""), 0, 23, "hour")?;
    let minute: i64 = number(hms.next().unwrap_or(""), 0, 59, "minute")?;
    let second: i64 = match hms.next() {
        Some(s) => number(s, 0, 60, "second")?,
        None => 0,
    };
    if hms.next().is_some() {
        return Err(format!("time {time:?} is not HH:MM[:SS]"));
    }
    let offset = zone_offset(zone)?;
    let days = days_from_civil(year, month, day);
    if let Some(w) = weekday {
        // 1970-01-01 was a Thursday (index 3 from Monday).
        let actual = (days + 3).rem_euclid(7) as usize;
        if actual != w {
            return Err(format!(
                "the day name {} does not match the date (it was a {})",
                DAYS[w], DAYS[actual]
            ));
        }
    }
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn number<T: std::str::FromStr + PartialOrd + Copy>(
    s: &str,
    min: T,
    max: T,
    what: &str,
) -> Result<T, String> {
    let n: T = if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() && s.len() <= 4 {
        s.parse()
            .map_err(|_| format!("{what} {s:?} is not a number"))?
    } else {
        return Err(format!("{what} {s:?} is not a number"));
    };
    if n < min || n > max {
        return Err(format!("{what} {s:?} is out of range"));
    }
    Ok(n)
}

/// Seconds east of UTC: `+hhmm`, `-hhmm`, or `GMT`/`UT`/`UTC`/`Z`.
fn zone_offset(zone: &str) -> Result<i64, String> {
    if ["GMT", "UT", "UTC", "Z"].contains(&zone) {
        return Ok(0);
    }
    let bad = || format!("time zone {zone:?} is not +hhmm or -hhmm");
    let (sign, digits) = match zone.as_bytes().first() {
        Some(b'+') => (1, &zone[1..]),
        Some(b'-') => (-1, &zone[1..]),
        _ => return Err(bad()),
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let hh: i64 = digits[..2].parse().map_err(|_| bad())?;
    let mm: i64 = digits[2..].parse().map_err(|_| bad())?;
    if hh > 23 || mm > 59 {
        return Err(bad());
    }
    Ok(sign * (hh * 3600 + mm * 60))
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (valid for years ≥ 1970).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let mut days = 0;
    for year in 1970..y {
        days += if is_leap(year) { 366 } else { 365 };
    }
    for month in 1..m {
        days += i64::from(days_in_month(y, month));
    }
    days + i64::from(d) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_changelog_dates_like_gnu_date() {
        // Cross-checked with `date --utc --date=... +%s` (GNU coreutils).
        for (input, expected) in [
            ("Tue, 14 Nov 2017 04:53:27 +0100", 1_510_631_607),
            ("Mon, 25 Sep 2017 22:23:01 +0200", 1_506_370_981),
            ("Thu, 01 Jan 1970 00:00:00 +0000", 0),
            ("29 Feb 2024 12:00 -0530", 1_709_227_800),
            ("Wed, 1 Jan 2025 00:00:00 GMT", 1_735_689_600),
        ] {
            assert_eq!(parse_rfc2822(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn refuses_bad_dates() {
        for bad in [
            "",
            "Mon, 14 Nov 2017 04:53:27 +0100",
            "Tue, 14 Foo 2017 04:53:27 +0100",
            "29 Feb 2023 00:00:00 +0000",
            "14 Nov 2017 24:00:00 +0100",
            "14 Nov 2017 04:53:27 +01",
            "14 Nov 17 04:53:27 +0100",
            "14 Nov 2017 04:53:27",
            "14 Nov 2017 04:53:27 +0100 extra",
            "99999999999999999999 Nov 2017 04:53:27 +0100",
        ] {
            assert!(parse_rfc2822(bad).is_err(), "{bad:?}");
        }
    }
}
