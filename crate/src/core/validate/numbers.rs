//! Turning JS numbers into Rust integers without surprises.
//!
//! JS hands over `f64`s: NaN, ±Infinity, negatives and fractions all arrive where an integer is meant.
//! Integers above 2^53 cannot even be represented exactly, so they are rejected rather than rounded.

use crate::core::error::{Error, Result};

/// `Number.MAX_SAFE_INTEGER`: the largest integer a JS number holds exactly.
pub(crate) const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Formats a number the way JS would print it, so messages match what the developer typed.
pub(crate) fn js(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        format!("{v}")
    }
}

/// A non-negative whole number that JS holds exactly, or `None`.
pub(crate) fn whole(v: f64) -> Option<u64> {
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= MAX_SAFE_INTEGER).then_some(v as u64)
}

/// A point in time (ms since the epoch). Fractions are dropped, as `Date` does.
pub(crate) fn time(option: &str, v: f64) -> Result<u64> {
    if (0.0..=MAX_SAFE_INTEGER).contains(&v) {
        Ok(v.floor() as u64)
    } else {
        Err(Error::options(
            option,
            format!(
                "{} is not a time; pass milliseconds since the epoch, e.g. Date.now() + 60000",
                js(v)
            ),
        ))
    }
}

/// A duration of at least 1 ms. Fractions are dropped (sub-millisecond precision means nothing here).
pub(crate) fn positive_ms(option: &str, v: f64) -> Result<u64> {
    if (1.0..=MAX_SAFE_INTEGER).contains(&v) {
        Ok(v.floor() as u64)
    } else {
        Err(Error::options(
            option,
            format!(
                "{} is not a positive number of milliseconds; pass at least 1",
                js(v)
            ),
        ))
    }
}

/// A whole number in `min..=max`.
pub(crate) fn int_in(option: &str, v: f64, min: u32, max: u32) -> Result<u32> {
    match whole(v) {
        Some(n) if n >= u64::from(min) && n <= u64::from(max) => Ok(n as u32),
        _ => Err(Error::options(
            option,
            format!(
                "{} is not a whole number from {min} to {max}; pass one",
                js(v)
            ),
        )),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn js_formatting_matches_javascript() {
        assert_eq!(js(f64::NAN), "NaN");
        assert_eq!(js(f64::INFINITY), "Infinity");
        assert_eq!(js(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(js(5.0), "5");
        assert_eq!(js(1.5), "1.5");
    }

    #[test]
    fn whole_rejects_fractions_negatives_and_unsafe_integers() {
        assert_eq!(whole(3.0), Some(3));
        assert_eq!(whole(0.0), Some(0));
        assert_eq!(whole(-0.0), Some(0));
        for bad in [1.5, -1.0, f64::NAN, f64::INFINITY, 2f64.powi(53)] {
            assert_eq!(whole(bad), None, "{bad}");
        }
    }

    #[test]
    fn time_floors_fractions() {
        assert_eq!(time("t", 10.9), Ok(10));
        assert!(time("t", -1.0).is_err());
    }
}
