//! `time.format` with zone abbreviations, as Go's layouts print them.
//!
//! The engine formats Go layouts well, except for the `MST` element: it
//! knows only the offset, so it prints `+01:00` where Go prints the zone's
//! abbreviation (`CET`, `UTC`). Here the layout is cut at each `MST`, the
//! pieces between are formatted by the engine's own builtin, and the
//! abbreviation of the zone at that instant goes in between. Layouts
//! without `MST`, and the process-local zone (`Local`), are left to the
//! engine entirely.

use chrono::TimeZone;
use chrono_tz::{OffsetName, Tz};
use regorus::Value;

use super::{Outcome, engine_builtin};

const NAME: &str = "time.format";

/// Go's named layouts that print a zone abbreviation.
fn expand_named_layout(layout: &str) -> &str {
    match layout {
        "UnixDate" => "Mon Jan _2 15:04:05 MST 2006",
        "RFC822" => "02 Jan 06 15:04 MST",
        "RFC850" => "Monday, 02-Jan-06 15:04:05 MST",
        "RFC1123" => "Mon, 02 Jan 2006 15:04:05 MST",
        other => other,
    }
}

pub(super) fn format(args: &[Value]) -> Outcome {
    let Some(Value::Array(parts)) = args.first() else {
        return engine_builtin(NAME, args);
    };
    let [
        Value::Number(ns),
        Value::String(zone),
        Value::String(layout),
    ] = parts.as_slice()
    else {
        return engine_builtin(NAME, args);
    };
    let layout = expand_named_layout(layout);
    if !layout.contains("MST") {
        return engine_builtin(NAME, args);
    }
    let Some(abbreviation) = ns.as_i64().and_then(|ns| zone_abbreviation(zone, ns)) else {
        return engine_builtin(NAME, args);
    };

    let mut formatted = String::new();
    for (i, piece) in layout.split("MST").enumerate() {
        if i > 0 {
            formatted.push_str(&abbreviation);
        }
        if piece.is_empty() {
            continue;
        }
        let call = Value::from(vec![
            Value::Number(ns.clone()),
            Value::String(zone.clone()),
            Value::from(piece),
        ]);
        match engine_builtin(NAME, &[call])? {
            Value::String(text) => formatted.push_str(&text),
            _ => return engine_builtin(NAME, args),
        }
    }
    Ok(Value::from(formatted))
}

/// The abbreviation Go prints for `zone` at `ns` nanoseconds after the
/// epoch; `None` for the process-local zone and unknown names.
fn zone_abbreviation(zone: &str, ns: i64) -> Option<String> {
    if zone.is_empty() || zone == "UTC" {
        return Some("UTC".to_owned());
    }
    let tz: Tz = zone.parse().ok()?;
    let instant = tz.timestamp_nanos(ns);
    instant.offset().abbreviation().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_text(ns: i64, zone: &str, layout: &str) -> String {
        let arg = Value::from(vec![
            Value::from(ns),
            Value::from(zone),
            Value::from(layout),
        ]);
        format(&[arg]).unwrap().as_string().unwrap().to_string()
    }

    #[test]
    fn mst_prints_the_zone_abbreviation() {
        assert_eq!(
            format_text(
                1_709_209_800_000_000_000,
                "Europe/Paris",
                "2006-01-02 15:04 MST"
            ),
            "2024-02-29 13:30 CET"
        );
        assert_eq!(format_text(0, "UTC", "RFC822"), "01 Jan 70 00:00 UTC");
        assert_eq!(
            format_text(1_719_835_200_000_000_000, "Europe/Paris", "MST"),
            "CEST"
        );
    }

    #[test]
    fn layouts_without_mst_are_the_engines() {
        assert_eq!(format_text(0, "UTC", "2006-01-02"), "1970-01-01");
    }
}
