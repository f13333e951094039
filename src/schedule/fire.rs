//! Fire instants of a cron pattern in a time zone, including the DST rule described in the
//! module documentation of `schedule`.
//!
//! A pattern whose hour field selects every hour follows real time: it fires at each instant
//! whose wall-clock reading matches, so it skips readings in a gap and fires in both passes
//! of a repeated hour. Any other pattern fires once per matching reading, at the first instant
//! the wall clock reaches it: a reading in a gap fires when the gap ends, and a repeated
//! reading fires in its first pass.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::cron::CronPattern;
use super::zone::{self, WallTime};

/// Maximum number of candidates examined per call. Each candidate is skipped only at a DST
/// transition, so real schedules need a handful; the bound guarantees termination.
const MAX_CANDIDATES: usize = 64;

const ONE_SECOND: TimeDelta = TimeDelta::seconds(1);

/// Returns the first fire instant of `pattern` in `zone` strictly after `after`.
pub(super) fn next_fire(
    pattern: &CronPattern,
    zone: Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    // Fire instants are whole seconds, so the fraction of `after` cannot change the result.
    let after = DateTime::from_timestamp(after.timestamp(), 0)?;
    if pattern.matches_every_hour() {
        next_in_real_time(pattern, zone, after)
    } else {
        next_first_reach(pattern, zone, after)
    }
}

/// Returns the first instant after `after` at which the wall clock first reaches a matching
/// reading.
///
/// The instant at which the clock first reaches a reading never decreases as the reading
/// grows. So the result is the first instant of the first matching reading above the latest
/// reading the clock has shown by `after`.
fn next_first_reach(
    pattern: &CronPattern,
    zone: Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut reached = zone::latest_wall_clock(zone, after)?;
    for _ in 0..MAX_CANDIDATES {
        let local = pattern.next_local(reached.checked_add_signed(ONE_SECOND)?)?;
        let first_reach = match zone::resolve(zone, local) {
            WallTime::Unique(instant) | WallTime::Repeated(instant, _) => Some(instant),
            WallTime::Skipped => zone::gap_end(zone, local),
        };
        // The check guards against zones whose offset changes twice in a short time.
        if let Some(instant) = first_reach.filter(|&instant| instant > after) {
            return Some(instant);
        }
        reached = local;
    }
    None
}

/// Returns the first instant after `after` whose wall-clock reading matches.
fn next_in_real_time(
    pattern: &CronPattern,
    zone: Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut earliest = after.checked_add_signed(ONE_SECOND)?;
    let mut search_from = zone::wall_clock(zone, earliest)?;
    for _ in 0..MAX_CANDIDATES {
        let local = pattern.next_local(search_from)?;
        let resolved = zone::resolve(zone, local);
        let Some(candidate) = first_instant_from(resolved, earliest) else {
            search_from = reading_after(zone, local, resolved)?;
            continue;
        };
        if zone::offset_seconds(zone, candidate) < zone::offset_seconds(zone, earliest) {
            // The clock was set back between `earliest` and `candidate`, so readings below
            // `local` come round again. No reading before the change matched, so search on from
            // the change.
            earliest = zone::next_offset_change(zone, earliest, candidate);
            search_from = zone::wall_clock(zone, earliest)?;
            continue;
        }
        return Some(candidate);
    }
    None
}

/// Returns the earliest of the instants in `resolved` that is at or after `earliest`.
fn first_instant_from(resolved: WallTime, earliest: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match resolved {
        WallTime::Unique(instant) => Some(instant).filter(|&instant| instant >= earliest),
        WallTime::Repeated(first, second) => [first, second]
            .into_iter()
            .find(|&instant| instant >= earliest),
        WallTime::Skipped => None,
    }
}

/// Returns the reading to search from after `local` gave no instant: the end of its gap, or
/// the next second.
fn reading_after(zone: Tz, local: NaiveDateTime, resolved: WallTime) -> Option<NaiveDateTime> {
    let gap_end = match resolved {
        WallTime::Skipped => zone::gap_end(zone, local).and_then(|end| zone::wall_clock(zone, end)),
        _ => None,
    };
    gap_end
        .filter(|&end| end > local)
        .or_else(|| local.checked_add_signed(ONE_SECOND))
}
