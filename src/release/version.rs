//! Release version numbers: dotted numbers with an optional `~suffix` (e.g. `4.0~rc1`).

use std::cmp::Ordering;

/// A parsed version; ordering follows Debian's rule that `~` sorts before the release.
#[derive(Debug, Clone)]
pub struct Version {
    pub numbers: Vec<u32>,
    pub pre: Option<String>,
}

impl Version {
    /// Parses `3.3`, `5.14`, `4.0~rc1`. Refuses anything else (empty parts, letters,
    /// path separators), so a version can safely become part of a file name or URL.
    pub fn parse(s: &str) -> Option<Version> {
        let (main, pre) = match s.split_once('~') {
            Some((m, p)) => (m, Some(p)),
            None => (s, None),
        };
        if main.is_empty() || main.len() > 32 {
            return None;
        }
        let numbers = main
            .split('.')
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 9 {
                    None
                } else {
                    p.parse().ok()
                }
            })
            .collect::<Option<Vec<u32>>>()?;
        if let Some(p) = pre {
            if p.is_empty() || p.len() > 16 || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
        }
        Some(Version {
            numbers,
            pre: pre.map(str::to_owned),
        })
    }

    /// True when this version is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.cmp(&Version {
            numbers: vec![major, minor],
            pre: None,
        }) != Ordering::Less
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.numbers.len().max(other.numbers.len());
        for i in 0..len {
            let a = self.numbers.get(i).copied().unwrap_or(0);
            let b = other.numbers.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match (&self.pre, &other.pre) {
            (None, None) => Ordering::Equal,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => a.cmp(b),
        }
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("3.12") > v("3.3"));
        assert!(v("4.0~rc1") < v("4.0"));
        assert!(v("3.0") == v("3.0.0"));
        assert!(v("2.12").at_least(2, 12) && !v("2.12").at_least(3, 0));
    }

    #[test]
    fn refuses_non_versions() {
        for bad in [
            "",
            "3.",
            ".3",
            "3..3",
            "3.3/../x",
            "a.b",
            "3.3~",
            "3.3~r/c",
            "1234567890.1",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad:?} accepted");
        }
    }
}
