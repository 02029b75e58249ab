use super::*;

fn at(s: &str) -> Timestamp {
    let dt: DateTime = s.parse().unwrap();
    tokyo().to_timestamp(dt).unwrap()
}

fn next(expr: &str, from: &str) -> String {
    let c = Cron::parse(expr).unwrap();
    let t = c.next_after(at(from)).unwrap();
    t.to_zoned(tokyo()).datetime().to_string()
}

#[test]
fn weekdays_at_two() {
    // 2026-11-21 is a Saturday: the next weekday 02:00 is Monday the 23rd.
    assert_eq!(
        next("0 2 * * MON-FRI", "2026-11-21T10:00"),
        "2026-11-23T02:00:00"
    );
    assert_eq!(
        next("0 2 * * MON-FRI", "2026-11-23T01:59:30"),
        "2026-11-23T02:00:00"
    );
    assert_eq!(
        next("0 2 * * MON-FRI", "2026-11-23T02:00"),
        "2026-11-24T02:00:00"
    );
}

#[test]
fn steps_lists_and_names() {
    assert_eq!(
        next("*/15 * * * *", "2026-11-21T10:07"),
        "2026-11-21T10:15:00"
    );
    assert_eq!(
        next("5,35 9-17 * * *", "2026-11-21T17:40"),
        "2026-11-22T09:05:00"
    );
    assert_eq!(
        next("0 0 1 jan,jul *", "2026-11-21T00:00"),
        "2027-01-01T00:00:00"
    );
    assert_eq!(next("0 0 * * 7", "2026-11-21T00:00"), "2026-11-22T00:00:00");
    assert_eq!(
        next("0 9 29 2 *", "2026-03-01T00:00"),
        "2028-02-29T09:00:00"
    );
}

#[test]
fn both_day_fields_restricted_means_either() {
    // The 1st of the month or any Monday.
    assert_eq!(
        next("0 0 1 * MON", "2026-11-24T00:00"),
        "2026-11-30T00:00:00"
    );
    assert_eq!(
        next("0 0 1 * MON", "2026-11-30T00:00"),
        "2026-12-01T00:00:00"
    );
}

#[test]
fn bad_expressions_say_what_is_wrong() {
    for (expr, says) in [
        ("0 2 * *", "five"),
        ("60 * * * *", "out of range"),
        ("0 2 * * FOO", "not a number"),
        ("0 5-2 * * *", "backwards"),
        ("*/0 * * * *", "step"),
        ("0 0 31 2 *", "never fires"),
    ] {
        let e = Cron::parse(expr).unwrap_err();
        assert!(e.contains(says), "{expr}: {e}");
    }
}

#[test]
fn the_server_zone_does_not_matter() {
    // 02:00 in Tokyo is 17:00 UTC the day before.
    let c = Cron::parse("0 2 * * *").unwrap();
    let t = c
        .next_after("2026-11-21T00:00:00Z".parse().unwrap())
        .unwrap();
    assert_eq!(t.to_string(), "2026-11-21T17:00:00Z");
}

#[test]
fn the_previous_firing_is_found_too() {
    let c = Cron::parse("0 9 * * MON-FRI").unwrap();
    // Monday 09:00's window starts at Friday 09:00.
    let monday = at("2026-11-23T09:00");
    let prev = c
        .prev_at_or_before(
            monday
                .checked_sub(jiff::SignedDuration::from_secs(60))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        prev.to_zoned(tokyo()).datetime().to_string(),
        "2026-11-20T09:00:00"
    );
    assert_eq!(c.prev_at_or_before(monday).unwrap(), monday);
}

#[test]
fn a_firing_between_the_last_and_now_was_missed() {
    let nightly = Trigger::Cron(Cron::parse("0 2 * * MON-FRI").unwrap());
    // Fired Friday 02:00, down until Monday 07:00: Monday 02:00 was missed.
    let missed = nightly.missed(at("2026-11-20T02:00"), at("2026-11-23T07:00"));
    assert_eq!(missed, Some(at("2026-11-23T02:00")));
    // Down over the weekend only: nothing was due.
    assert_eq!(
        nightly.missed(at("2026-11-20T02:00"), at("2026-11-23T01:59")),
        None
    );
    // Restarted at the very minute it fired: that firing was its own.
    assert_eq!(
        nightly.missed(at("2026-11-23T02:00"), at("2026-11-23T02:00:40")),
        None
    );
    let every = Trigger::Every(std::time::Duration::from_secs(600));
    assert_eq!(
        every.missed(at("2026-11-23T02:00"), at("2026-11-23T02:15")),
        Some(at("2026-11-23T02:10"))
    );
    assert_eq!(
        every.missed(at("2026-11-23T02:00"), at("2026-11-23T02:05")),
        None
    );
    assert_eq!(
        Trigger::Arrival.missed(at("2026-11-20T02:00"), at("2026-11-23T07:00")),
        None
    );
}
