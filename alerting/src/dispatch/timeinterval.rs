//! Alertmanager's `time_intervals`: named sets of times, weekdays, days of month,
//! months and years in a time zone, used to mute or activate routes.

use ember_exposition::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::error::{ConfigError, ConfigErrorKind};

/// A named list of time interval specs; an instant is inside when any spec contains it.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    /// The name routes refer to.
    pub name: String,
    /// The specs; the interval contains an instant when any of them does.
    pub specs: Vec<TimeIntervalSpec>,
}

impl TimeInterval {
    /// Whether `t` (Unix milliseconds) falls inside this interval.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.specs.iter().any(|s| s.contains(t))
    }
}

/// One spec: every non-empty field must match (any of its ranges).
#[derive(Debug, Clone)]
pub struct TimeIntervalSpec {
    /// Minute-of-day ranges `[start, end)`.
    pub times: Vec<(u16, u16)>,
    /// Weekday ranges, Sunday = 0, inclusive.
    pub weekdays: Vec<(u8, u8)>,
    /// Day-of-month ranges, negative counting from the month's end, inclusive.
    pub days_of_month: Vec<(i8, i8)>,
    /// Month ranges, January = 1, inclusive.
    pub months: Vec<(u8, u8)>,
    /// Year ranges, inclusive.
    pub years: Vec<(i32, i32)>,
    /// The zone the fields are read in (UTC unless `location` says otherwise).
    pub location: TimeZone,
}

impl TimeIntervalSpec {
    /// Whether `t` (Unix milliseconds) satisfies every non-empty field.
    pub fn contains(&self, t: Timestamp) -> bool {
        let Ok(ts) = jiff::Timestamp::from_millisecond(t) else {
            return false;
        };
        let dt = self.location.to_datetime(ts);
        let minute = dt.hour() as u16 * 60 + dt.minute() as u16;
        if !self.times.is_empty() && !self.times.iter().any(|&(s, e)| minute >= s && minute < e) {
            return false;
        }
        let wd = dt.weekday().to_sunday_zero_offset() as u8;
        if !self.weekdays.is_empty() && !self.weekdays.iter().any(|&(s, e)| wd >= s && wd <= e) {
            return false;
        }
        if !self.days_of_month.is_empty() {
            let dim = dt.date().days_in_month() as i32;
            let day = dt.day() as i32;
            let hit = self.days_of_month.iter().any(|&(b, e)| {
                let resolve = |d: i8| if d < 0 { dim + d as i32 + 1 } else { d as i32 };
                let (b, e) = (resolve(b), resolve(e));
                if b > dim {
                    return false;
                }
                let (b, e) = (b.clamp(-dim, dim), e.clamp(-dim, dim));
                day >= b && day <= e
            });
            if !hit {
                return false;
            }
        }
        let month = dt.month() as u8;
        if !self.months.is_empty() && !self.months.iter().any(|&(s, e)| month >= s && month <= e) {
            return false;
        }
        let year = dt.year() as i32;
        if !self.years.is_empty() && !self.years.iter().any(|&(s, e)| year >= s && year <= e) {
            return false;
        }
        true
    }
}

/// The YAML form of a named time interval.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeInterval {
    pub name: Option<String>,
    #[serde(default)]
    pub time_intervals: Vec<RawSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpec {
    #[serde(default)]
    times: Vec<RawTimeRange>,
    #[serde(default)]
    weekdays: Vec<String>,
    #[serde(default)]
    days_of_month: Vec<String>,
    #[serde(default)]
    months: Vec<String>,
    #[serde(default)]
    years: Vec<String>,
    location: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeRange {
    start_time: String,
    end_time: String,
}

const WEEKDAYS: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl RawTimeInterval {
    pub(crate) fn compile(self, path: &str) -> Result<TimeInterval, ConfigError> {
        let name = self
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ConfigError::new(format!("{path}.name"), ConfigErrorKind::Missing))?;
        let specs = self
            .time_intervals
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.compile(&format!("{path}.time_intervals[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(TimeInterval { name, specs })
    }
}

fn invalid(path: String, msg: String) -> ConfigError {
    ConfigError::new(path, ConfigErrorKind::InvalidValue(msg))
}

/// Splits `a:b` (or `a`, meaning `a:a`) and parses both ends.
fn range<T: Copy>(s: &str, parse: impl Fn(&str) -> Option<T>) -> Option<(T, T)> {
    match s.split_once(':') {
        Some((a, b)) => Some((parse(a.trim())?, parse(b.trim())?)),
        None => {
            let v = parse(s.trim())?;
            Some((v, v))
        }
    }
}

fn parse_clock(s: &str) -> Option<u16> {
    if s == "24:00" {
        return Some(24 * 60);
    }
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl RawSpec {
    fn compile(self, path: &str) -> Result<TimeIntervalSpec, ConfigError> {
        let mut times = Vec::new();
        for (i, t) in self.times.iter().enumerate() {
            let p = format!("{path}.times[{i}]");
            let s = parse_clock(&t.start_time)
                .ok_or_else(|| invalid(format!("{p}.start_time"), format!("invalid time of day {:?}", t.start_time)))?;
            let e = parse_clock(&t.end_time)
                .ok_or_else(|| invalid(format!("{p}.end_time"), format!("invalid time of day {:?}", t.end_time)))?;
            if s >= e {
                return Err(invalid(p, "start time cannot be equal or greater than end time".into()));
            }
            times.push((s, e));
        }
        let mut weekdays = Vec::new();
        for (i, w) in self.weekdays.iter().enumerate() {
            let p = format!("{path}.weekdays[{i}]");
            let r = range(w, |d| WEEKDAYS.iter().position(|n| n.eq_ignore_ascii_case(d)).map(|i| i as u8))
                .ok_or_else(|| invalid(p.clone(), format!("invalid weekday {w:?}")))?;
            if r.0 > r.1 {
                return Err(invalid(p, "start day cannot be after end day".into()));
            }
            weekdays.push(r);
        }
        let mut days_of_month = Vec::new();
        for (i, d) in self.days_of_month.iter().enumerate() {
            let p = format!("{path}.days_of_month[{i}]");
            let r = range(d, |v| v.parse::<i8>().ok().filter(|v| *v != 0 && (-31..=31).contains(v)))
                .ok_or_else(|| invalid(p.clone(), format!("invalid day of month {d:?}")))?;
            if r.0 < 0 && r.1 > 0 {
                return Err(invalid(p, "end day must be negative if start day is negative".into()));
            }
            if r.0.signum() == r.1.signum() && r.0 > r.1 {
                return Err(invalid(p, "start day cannot be after end day".into()));
            }
            days_of_month.push(r);
        }
        let mut months = Vec::new();
        for (i, m) in self.months.iter().enumerate() {
            let p = format!("{path}.months[{i}]");
            let parse = |v: &str| {
                MONTHS
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(v))
                    .map(|i| i as u8 + 1)
                    .or_else(|| v.parse::<u8>().ok().filter(|m| (1..=12).contains(m)))
            };
            let r = range(m, parse).ok_or_else(|| invalid(p.clone(), format!("invalid month {m:?}")))?;
            if r.0 > r.1 {
                return Err(invalid(p, "start month cannot be after end month".into()));
            }
            months.push(r);
        }
        let mut years = Vec::new();
        for (i, y) in self.years.iter().enumerate() {
            let p = format!("{path}.years[{i}]");
            let r = range(y, |v| v.parse::<i32>().ok().filter(|y| *y > 0))
                .ok_or_else(|| invalid(p.clone(), format!("invalid year {y:?}")))?;
            if r.0 > r.1 {
                return Err(invalid(p, "start year cannot be after end year".into()));
            }
            years.push(r);
        }
        let location = match self.location.as_deref() {
            None | Some("UTC") | Some("") => TimeZone::UTC,
            Some("Local") => TimeZone::system(),
            Some(name) => TimeZone::get(name)
                .map_err(|e| invalid(format!("{path}.location"), format!("unknown time zone {name:?}: {e}")))?,
        };
        Ok(TimeIntervalSpec { times, weekdays, days_of_month, months, years, location })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> TimeIntervalSpec {
        let raw: RawSpec = serde_norway::from_str(yaml).unwrap();
        raw.compile("t").unwrap()
    }

    fn ms(s: &str) -> Timestamp {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[track_caller]
    fn check(yaml: &str, at: &str, want: bool) {
        assert_eq!(spec(yaml).contains(ms(at)), want, "{yaml} at {at}");
    }

    #[test]
    fn fields() {
        let office = "times: [{start_time: '09:00', end_time: '17:00'}]\nweekdays: ['monday:friday']";
        check(office, "2024-01-08T09:00:00Z", true); // Monday
        check(office, "2024-01-08T16:59:59Z", true);
        check(office, "2024-01-08T17:00:00Z", false);
        check(office, "2024-01-07T10:00:00Z", false); // Sunday
        let evening = "times: [{start_time: '17:00', end_time: '24:00'}]";
        check(evening, "2024-01-08T23:59:00Z", true);
        check(evening, "2024-01-09T00:00:00Z", false);
        check("days_of_month: ['-1']", "2024-02-29T12:00:00Z", true);
        check("days_of_month: ['-1']", "2024-02-28T12:00:00Z", false);
        check("days_of_month: ['1:31']", "2023-02-28T12:00:00Z", true);
        check("days_of_month: ['30:31']", "2023-02-28T12:00:00Z", false);
        check("months: ['may:august', 'december']", "2024-06-01T00:00:00Z", true);
        check("months: ['may:august', 'december']", "2024-09-01T00:00:00Z", false);
        check("months: ['1:3']", "2024-03-31T00:00:00Z", true);
        check("years: ['2020:2022', '2030']", "2030-05-01T00:00:00Z", true);
        check("years: ['2020:2022', '2030']", "2024-05-01T00:00:00Z", false);
        check("weekdays: ['Saturday', 'sunday']", "2024-01-06T00:00:00Z", true);
    }

    #[test]
    fn location() {
        // 09:00–17:00 in Sydney (UTC+11 in January) is 22:00–06:00 UTC.
        let s = "times: [{start_time: '09:00', end_time: '17:00'}]\nlocation: Australia/Sydney";
        check(s, "2024-01-08T23:00:00Z", true);
        check(s, "2024-01-08T12:00:00Z", false);
    }

    #[test]
    fn errors() {
        for (bad, field) in [
            ("times: [{start_time: '10:00', end_time: '09:00'}]", "t.times[0]"),
            ("times: [{start_time: '25:00', end_time: '26:00'}]", "t.times[0].start_time"),
            ("weekdays: ['friday:monday']", "t.weekdays[0]"),
            ("weekdays: ['funday']", "t.weekdays[0]"),
            ("days_of_month: ['0']", "t.days_of_month[0]"),
            ("days_of_month: ['-3:5']", "t.days_of_month[0]"),
            ("months: ['13']", "t.months[0]"),
            ("location: Mars/Olympus", "t.location"),
        ] {
            let raw: RawSpec = serde_norway::from_str(bad).unwrap();
            let e = raw.compile("t").unwrap_err();
            assert_eq!(e.path, field, "{bad}: {e}");
        }
        assert!(serde_norway::from_str::<RawSpec>("hours: []").is_err());
    }
}
