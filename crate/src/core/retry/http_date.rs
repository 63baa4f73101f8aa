//! Hand-written HTTP-date parsing (RFC 9110 §5.6.7), so the core needs no date crate.
//!
//! Three forms must be accepted by recipients:
//! * IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT` (what servers send today)
//! * RFC 850:     `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete)
//! * asctime:     `Sun Nov  6 08:49:37 1994` (obsolete)
//!
//! The weekday is checked to be a weekday name but not against the date: a server that gets it wrong
//! still means the date it wrote. Month and zone names are matched case-insensitively for the same
//! reason (leniency costs nothing here; a wrong delay is bounded by retention anyway).

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LONG_DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Milliseconds since the Unix epoch (negative before 1970), or `None` if `s` is no HTTP-date.
pub(super) fn parse_http_date_ms(s: &str) -> Option<i64> {
    let tokens: Vec<&str> = s.split_ascii_whitespace().collect();
    match tokens.as_slice() {
        [wd, day, mon, year, time, zone] if is_day(wd.strip_suffix(',')?, &DAYS) => {
            gmt(zone)?;
            build(num(year, 4)?, month(mon)?, num(day, 2)?, time)
        }
        [wd, dmy, time, zone] if is_day(wd.strip_suffix(',')?, &LONG_DAYS) => {
            gmt(zone)?;
            let mut parts = dmy.split('-');
            let (day, mon, yy) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            // RFC 850 years have two digits; RFC 9110 says to read them as the most recent past
            // century that is not more than 50 years ahead — approximated here as 70..=99 → 19xx.
            let yy = num(yy, 2)?;
            build(
                if yy >= 70 { 1900 + yy } else { 2000 + yy },
                month(mon)?,
                num(day, 2)?,
                time,
            )
        }
        [wd, mon, day, time, year] if is_day(wd, &DAYS) => {
            // asctime pads single-digit days with a space, which whitespace splitting absorbs.
            let day = if day.len() == 1 {
                num(day, 1)?
            } else {
                num(day, 2)?
            };
            build(num(year, 4)?, month(mon)?, day, time)
        }
        _ => None,
    }
}

fn is_day(s: &str, names: &[&str]) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(s))
}

fn gmt(zone: &str) -> Option<()> {
    (zone.eq_ignore_ascii_case("GMT") || zone.eq_ignore_ascii_case("UTC")).then_some(())
}

fn month(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

/// Parses exactly `digits` ASCII digits.
fn num(s: &str, digits: usize) -> Option<u32> {
    (s.len() == digits && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn build(year: u32, month: u32, day: u32, time: &str) -> Option<i64> {
    let mut hms = time.split(':');
    let (h, m, s) = (
        num(hms.next()?, 2)?,
        num(hms.next()?, 2)?,
        num(hms.next()?, 2)?,
    );
    if hms.next().is_some()
        || h > 23
        || m > 59
        || s > 60
        || day == 0
        || day > days_in_month(year, month)
    {
        return None;
    }
    // A leap second (:60) is read as the next second, which is what it ends up meaning.
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s);
    Some(secs * 1000)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400; // [0, 399]
    let mp = i64::from((month + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    const NOV_6_1994: i64 = 784_111_777_000;

    #[test]
    fn imf_fixdate_parses() {
        assert_eq!(
            parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(NOV_6_1994)
        );
    }

    #[test]
    fn rfc850_date_parses() {
        assert_eq!(
            parse_http_date_ms("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(NOV_6_1994)
        );
    }

    #[test]
    fn asctime_date_parses() {
        assert_eq!(
            parse_http_date_ms("Sun Nov  6 08:49:37 1994"),
            Some(NOV_6_1994)
        );
    }

    #[test]
    fn epoch_and_leap_day_are_exact() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            parse_http_date_ms("Tue, 29 Feb 2000 00:00:00 GMT"),
            Some(11_016 * 86_400_000)
        );
    }

    #[test]
    fn impossible_dates_are_rejected() {
        for bad in [
            "Wed, 29 Feb 2023 00:00:00 GMT",
            "Sun, 31 Apr 2024 00:00:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
        ] {
            assert_eq!(parse_http_date_ms(bad), None, "{bad}");
        }
    }
}
