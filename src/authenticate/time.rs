//! RFC 3339 (UTC) rendering of OpenPGP timestamps, without a date library.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch; times before it (impossible in OpenPGP) count as 0.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2017-11-14T04:20:28Z` for the given instant (whole seconds, UTC).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = unix(t);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of the day `days` after 1970-01-01 (the well-known
/// era-based conversion: 400-year eras of 146097 days, years starting in March).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(s: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(s))
    }

    #[test]
    fn known_instants() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        // Tails 3.3's SOURCE_DATE_EPOCH: Tue, 14 Nov 2017 04:53:27 +0100.
        assert_eq!(at(1_510_631_607), "2017-11-14T03:53:27Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(4_294_967_295), "2106-02-07T06:28:15Z");
    }

    #[test]
    fn consecutive_days_map_to_consecutive_dates() {
        // Day-by-day round trip over 1970..2200: months/days stay in range and
        // consecutive days never repeat or skip.
        let mut prev = (1969, 12, 31);
        for day in 0..(230 * 366) {
            let cur = civil_from_days(day);
            assert!((1..=12).contains(&cur.1) && (1..=31).contains(&cur.2));
            let next_expected = if cur.2 == 1 {
                cur.1 == 1 && prev.0 + 1 == cur.0 || prev.0 == cur.0 && prev.1 + 1 == cur.1
            } else {
                prev.0 == cur.0 && prev.1 == cur.1 && prev.2 + 1 == cur.2
            };
            assert!(next_expected, "{prev:?} -> {cur:?}");
            prev = cur;
        }
    }
}
