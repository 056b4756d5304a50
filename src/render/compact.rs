//! The compact view of a table: detail columns and columns that carry nothing in this run
//! left out, and runs of rows that differ only in a leading number grouped with a count
//! ("4–17 (14)"). `--detail` and JSON show everything.

use super::cell_text;
use crate::report::{Cell, Row, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Compact,
    Detail,
}

/// The table as shown, and how many rows and columns the view left out.
pub fn compact(t: &Table, view: View) -> (Table, usize) {
    if view == View::Detail {
        return (t.clone(), 0);
    }
    let mut out = t.clone();
    let carries_nothing = |key: &str| {
        t.rows.len() > 1
            && t.rows
                .iter()
                .all(|r| matches!(cell_text(r.get(key)).as_str(), "-" | ""))
    };
    out.columns.retain(|c| !c.detail && !carries_nothing(&c.key));
    let mut hidden = t.columns.len() - out.columns.len();
    let (rows, grouped) = group(&out);
    out.rows = rows;
    hidden += grouped;
    (out, hidden)
}

/// Groups consecutive rows equal in every shown column but the first, when the first
/// holds whole numbers that count up by one.
fn group(t: &Table) -> (Vec<Row>, usize) {
    let Some(first) = t.columns.first().map(|c| c.key.clone()) else {
        return (t.rows.clone(), 0);
    };
    let rest: Vec<&str> = t.columns.iter().skip(1).map(|c| c.key.as_str()).collect();
    let same = |a: &Row, b: &Row| rest.iter().all(|k| a.get(*k) == b.get(*k));
    let num = |r: &Row| r.get(&first).and_then(Cell::as_i64);
    let mut out: Vec<Row> = Vec::new();
    let mut hidden = 0;
    let mut i = 0;
    while i < t.rows.len() {
        let start = &t.rows[i];
        let mut j = i + 1;
        while j < t.rows.len()
            && same(start, &t.rows[j])
            && matches!((num(&t.rows[j - 1]), num(&t.rows[j])), (Some(a), Some(b)) if b == a + 1)
        {
            j += 1;
        }
        let mut row = start.clone();
        if j - i >= 3 {
            let (a, b) = (num(start).unwrap_or(0), num(&t.rows[j - 1]).unwrap_or(0));
            row.insert(first.clone(), Cell::from(format!("{a}–{b} ({})", j - i)));
            hidden += j - i - 1;
        } else {
            j = i + 1;
        }
        out.push(row);
        i = j;
    }
    (out, hidden)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row;

    fn clients() -> Table {
        let mut t = Table::new(
            "c",
            "clients",
            &[("n", "client"), ("fate", "fate"), ("empty", "never set")],
        );
        for n in 1..=20 {
            let fate = if (4..=17).contains(&n) {
                "PHANTOM"
            } else {
                "accepted"
            };
            t.push(row! { "n" => n, "fate" => fate, "empty" => Cell::Null });
        }
        t
    }

    #[test]
    fn groups_runs_and_drops_empty_columns() {
        let (c, hidden) = compact(&clients(), View::Compact);
        let firsts: Vec<String> = c.rows.iter().map(|r| cell_text(r.get("n"))).collect();
        assert_eq!(firsts, ["1–3 (3)", "4–17 (14)", "18–20 (3)"]);
        assert_eq!(c.columns.len(), 2, "the empty column is left out");
        assert_eq!(hidden, 1 + 17);
    }

    #[test]
    fn detail_shows_everything_and_short_runs_stay() {
        let (d, hidden) = compact(&clients(), View::Detail);
        assert_eq!((d.rows.len(), d.columns.len(), hidden), (20, 3, 0));
        let mut t = clients();
        t.rows.truncate(5);
        let (c, _) = compact(&t, View::Compact);
        assert_eq!(c.rows.len(), 3, "1–3 grouped, 4 and 5 kept: {:?}", c.rows);
    }

    #[test]
    fn detail_columns_are_left_out_of_the_compact_view() {
        let mut t = clients();
        t.detail(&["fate"]);
        let (c, _) = compact(&t, View::Compact);
        assert!(c.columns.iter().all(|c| c.key != "fate"));
    }
}
