//! Pictures as SVG for the web book: a pure function of a [`Picture`] and a language, drawn
//! with plotters' SVG backend. 700 px wide; text is SVG text (the browser picks the font,
//! so Chinese labels need nothing more). The same picture always gives the same bytes.

use crate::report::picture::{Arrow, Kind, Mark, Picture, Sequence, Timeline};
use crate::report::{Lang, Text};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of every picture, px.
pub const WIDTH: u32 = 700;
const FONT: &str = "sans-serif";
const INK: RGBColor = RGBColor(40, 40, 40);
const GRID: RGBColor = RGBColor(210, 210, 210);
const BAD: RGBColor = RGBColor(200, 40, 40);

/// The SVG of `p` with its labels in `lang`.
pub fn svg(p: &Picture, lang: Lang) -> String {
    match &p.kind {
        Kind::Timeline(t) => timeline(t, lang),
        Kind::Sequence(s) => sequence(s, lang),
    }
}

fn pick(t: &Text, lang: Lang) -> &str {
    match lang {
        Lang::En => &t.en,
        Lang::Zh => &t.zh,
    }
}

fn text_style(size: f64, color: &'static RGBColor, h: HPos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font())
        .color(color)
        .pos(Pos::new(h, VPos::Center))
}

/// A round step for about `ticks` ticks over `0..max`: 1, 2 or 5 times a power of ten.
fn tick_step(max: f64, ticks: f64) -> f64 {
    let raw = (max / ticks).max(1e-6);
    let pow = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * pow)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * pow)
}

fn mark_color(m: Mark) -> RGBColor {
    match m {
        Mark::Start => RGBColor(90, 90, 90),
        Mark::Retry => RGBColor(230, 140, 0),
        Mark::Ok => RGBColor(30, 150, 60),
        Mark::Accepted => RGBColor(30, 90, 200),
        Mark::Lost | Mark::Failed => BAD,
    }
}

/// Draws one mark centred at (x, y).
fn draw_mark<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, m: Mark, x: i32, y: i32) {
    let c = mark_color(m);
    let r = 5;
    let _ = match m {
        Mark::Start => area.draw(&Circle::new((x, y), r, c.stroke_width(2))),
        Mark::Ok => area.draw(&Circle::new((x, y), r, c.filled())),
        Mark::Retry => area.draw(&Polygon::new(
            vec![(x, y - r - 1), (x - r, y + r), (x + r, y + r)],
            c.filled(),
        )),
        Mark::Accepted => area.draw(&Rectangle::new([(x - r, y - r), (x + r, y + r)], c.filled())),
        Mark::Failed => area.draw(&Rectangle::new(
            [(x - r, y - r), (x + r, y + r)],
            c.stroke_width(2),
        )),
        Mark::Lost => area
            .draw(&PathElement::new(
                vec![(x - r, y - r), (x + r, y + r)],
                c.stroke_width(2),
            ))
            .and_then(|_| {
                area.draw(&PathElement::new(
                    vec![(x - r, y + r), (x + r, y - r)],
                    c.stroke_width(2),
                ))
            }),
    };
}

/// About how wide 12 px text is: SVG text has no metrics here, so a generous guess.
fn text_width(s: &str) -> i32 {
    s.chars().map(|c| if c.is_ascii() { 7 } else { 13 }).sum()
}

/// Where each legend entry goes: (x, row), wrapping before `right`.
fn legend_places(legend: &[(Mark, Text)], lang: Lang, left: i32, right: i32) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    let (mut x, mut row) = (left, 0);
    for (_, what) in legend {
        let w = 10 + text_width(pick(what, lang)) + 24;
        if x > left && x + w > right {
            x = left;
            row += 1;
        }
        out.push((x, row));
        x += w;
    }
    out
}

/// One lane per row, events at their times, a ms axis and the legend under it.
fn timeline(t: &Timeline, lang: Lang) -> String {
    const LANE: i32 = 22;
    const TOP: i32 = 16;
    const LEFT: i32 = 110;
    const RIGHT: i32 = WIDTH as i32 - 24;
    let lanes = t.lanes.len() as i32;
    let axis_y = TOP + lanes * LANE + 4;
    let legend_y = axis_y + 44;
    let legend = legend_places(&t.legend, lang, LEFT - 60, RIGHT);
    let rows = legend.last().map_or(0, |(_, row)| row + 1);
    let height = (legend_y + rows * 20 + 8) as u32;
    let max = t
        .lanes
        .iter()
        .flat_map(|l| l.events.iter().map(|e| e.t_ms))
        .fold(0.0f64, f64::max)
        .max(1.0);
    let step = tick_step(max, 7.0);
    let end = (max / step).ceil() * step;
    let x_of = |ms: f64| LEFT + ((ms / end) * (RIGHT - LEFT) as f64).round() as i32;
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        let _ = area.fill(&WHITE);
        // Each tick from its index (no summed rounding error), printed with the step's decimals.
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let count = (end / step).round() as usize;
        for i in 0..=count.min(100) {
            let tick = i as f64 * step;
            let x = x_of(tick);
            let _ = area.draw(&PathElement::new(
                vec![(x, TOP - 8), (x, axis_y)],
                GRID.stroke_width(1),
            ));
            let label = format!("{tick:.decimals$}");
            let _ = area.draw(&plotters::element::Text::new(
                label,
                (x, axis_y + 10),
                text_style(12.0, &INK, HPos::Center),
            ));
        }
        let axis = pick(&t.axis, lang).to_string();
        let _ = area.draw(&plotters::element::Text::new(
            axis,
            ((LEFT + RIGHT) / 2, axis_y + 28),
            text_style(12.0, &INK, HPos::Center),
        ));
        for (i, lane) in t.lanes.iter().enumerate() {
            let y = TOP + i as i32 * LANE + LANE / 2;
            let label = pick(&lane.label, lang).to_string();
            let _ = area.draw(&plotters::element::Text::new(
                label,
                (LEFT - 10, y),
                text_style(12.0, &INK, HPos::Right),
            ));
            let xs: Vec<i32> = lane.events.iter().map(|e| x_of(e.t_ms)).collect();
            if let (Some(a), Some(b)) = (xs.iter().min(), xs.iter().max()) {
                let _ = area.draw(&PathElement::new(vec![(*a, y), (*b, y)], INK.stroke_width(1)));
            }
            for (e, x) in lane.events.iter().zip(&xs) {
                draw_mark(&area, e.mark, *x, y);
            }
        }
        for ((m, what), (x, row)) in t.legend.iter().zip(&legend) {
            let y = legend_y + row * 20;
            draw_mark(&area, *m, *x, y);
            let label = pick(what, lang).to_string();
            let _ = area.draw(&plotters::element::Text::new(
                label,
                (x + 10, y),
                text_style(12.0, &INK, HPos::Left),
            ));
        }
        let _ = area.present();
    }
    out
}

/// Two lifelines, one row per step: the arrow with its label, the time at the left, the
/// states after the step beside each lifeline.
fn sequence(s: &Sequence, lang: Lang) -> String {
    const ROW: i32 = 34;
    const TOP: i32 = 44;
    const L: i32 = 270;
    const R: i32 = 560;
    let height = (TOP + s.steps.len() as i32 * ROW + 16) as u32;
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        let _ = area.fill(&WHITE);
        for (x, who) in [(L, &s.left), (R, &s.right)] {
            let name = pick(who, lang).to_string();
            let _ = area.draw(&plotters::element::Text::new(
                name,
                (x, 18),
                text_style(14.0, &INK, HPos::Center),
            ));
            let _ = area.draw(&PathElement::new(
                vec![(x, 30), (x, height as i32 - 8)],
                GRID.stroke_width(2),
            ));
        }
        for (i, st) in s.steps.iter().enumerate() {
            let y = TOP + i as i32 * ROW + ROW / 2;
            let color: &'static RGBColor = if st.bad { &BAD } else { &INK };
            if let Some(t) = st.t_ms {
                let label = format!("{t:.3} ms");
                let _ = area.draw(&plotters::element::Text::new(
                    label,
                    (8, y),
                    text_style(11.0, &INK, HPos::Left),
                ));
            }
            let label = pick(&st.label, lang).to_string();
            match st.arrow {
                Some(a) => {
                    let (from, to) = match a {
                        Arrow::LeftToRight => (L, R),
                        Arrow::RightToLeft => (R, L),
                    };
                    let _ = area.draw(&PathElement::new(vec![(from, y), (to, y)], color.stroke_width(2)));
                    let dx = if to > from { -9 } else { 9 };
                    let _ = area.draw(&Polygon::new(
                        vec![(to, y), (to + dx, y - 5), (to + dx, y + 5)],
                        color.filled(),
                    ));
                    let _ = area.draw(&plotters::element::Text::new(
                        label,
                        ((L + R) / 2, y - 9),
                        text_style(12.0, color, HPos::Center),
                    ));
                }
                None => {
                    let _ = area.draw(&plotters::element::Text::new(
                        label,
                        ((L + R) / 2, y),
                        text_style(12.0, color, HPos::Center),
                    ));
                }
            }
            if let Some(state) = &st.left_state {
                let label = pick(state, lang).to_string();
                let _ = area.draw(&plotters::element::Text::new(
                    label,
                    (L - 8, y + 9),
                    text_style(11.0, &INK, HPos::Right),
                ));
            }
            if let Some(state) = &st.right_state {
                let label = pick(state, lang).to_string();
                let _ = area.draw(&plotters::element::Text::new(
                    label,
                    (R + 8, y + 9),
                    text_style(11.0, &INK, HPos::Left),
                ));
            }
        }
        let _ = area.present();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::picture::{Event, Lane, Step};

    fn timeline_picture() -> Picture {
        let lane = |n: u32, retry: bool| Lane {
            label: Text {
                en: format!("client {n}"),
                zh: format!("客户端 {n}"),
            },
            events: [(0.0, Mark::Start)]
                .into_iter()
                .chain(retry.then_some((1000.0, Mark::Retry)))
                .chain([(1001.0, Mark::Ok), (1002.0, Mark::Accepted)])
                .map(|(t_ms, mark)| Event { t_ms, mark })
                .collect(),
        };
        Picture {
            id: "timeline".into(),
            title: Text::same("t"),
            kind: Kind::Timeline(Timeline {
                axis: Text {
                    en: "ms".into(),
                    zh: "毫秒".into(),
                },
                lanes: vec![lane(1, false), lane(2, true)],
                legend: vec![(Mark::Retry, Text::same("SYN retry"))],
            }),
        }
    }

    #[test]
    fn a_timeline_is_700_wide_deterministic_and_labelled_in_each_language() {
        let p = timeline_picture();
        let en = svg(&p, Lang::En);
        assert_eq!(en, svg(&p, Lang::En), "same picture, same bytes");
        assert!(en.contains("width=\"700\""), "{}", &en[..200]);
        assert!(en.contains("client 2") && !en.contains("客户端"));
        let zh = svg(&p, Lang::Zh);
        assert!(zh.contains("客户端 2") && zh.contains("毫秒"));
        // One polygon per retry mark (the triangle).
        assert_eq!(en.matches("<polygon").count(), 2, "one retry lane + the legend");
    }

    #[test]
    fn a_sequence_draws_one_arrow_per_arrowed_step() {
        let step = |arrow, bad| Step {
            arrow,
            label: Text::same("FIN"),
            t_ms: Some(0.5),
            left_state: Some(Text::same("TIME-WAIT")),
            right_state: None,
            bad,
        };
        let p = Picture {
            id: "restart".into(),
            title: Text::same("r"),
            kind: Kind::Sequence(Sequence {
                left: Text::same("server"),
                right: Text::same("client"),
                steps: vec![
                    step(Some(Arrow::LeftToRight), false),
                    step(Some(Arrow::RightToLeft), false),
                    step(None, true),
                ],
            }),
        };
        let s = svg(&p, Lang::En);
        assert_eq!(s.matches("<polygon").count(), 2, "two arrow heads");
        assert!(s.contains("TIME-WAIT") && s.contains("0.500 ms"));
        assert!(
            s.contains("#C82828") || s.to_lowercase().contains("#c82828"),
            "the bad step in red"
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(7000.0, 7.0), 1000.0);
        assert_eq!(tick_step(3.0, 7.0), 0.5);
        assert_eq!(tick_step(0.0, 7.0), 1e-6);
    }
}
