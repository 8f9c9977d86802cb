//! Charts as SVG. [`svg`]: the bench results as a bar chart, one row per
//! figure, grouped by suite. A bar is the median, the whisker spans
//! min..max, and a red tick marks the goal. Figures with different units
//! cannot share an axis, so each bar is scaled against the largest value
//! (or goal) of its unit within its suite. [`lines`]: a sweep's metric
//! against one parameter, one line per value of another.

use anyhow::{Context, Result};
use plotters::prelude::*;

use super::results::{show, Figure, Results};

const WIDTH: u32 = 960;
const ROW: i32 = 22;
const LABEL_W: i32 = 430;
const BAR_W: i32 = 330;

pub fn svg(results: &Results) -> Result<String> {
    let rows: i32 = results
        .suites
        .iter()
        .map(|s| s.figures.len() as i32 + 1)
        .sum();
    let height = (ROW * (rows + 2)) as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).context("plot: background")?;
        let text = |size: u32| ("sans-serif", size).into_font();
        let title = format!(
            "cargo xtask bench{} — {} — {}",
            if results.quick { " --quick" } else { "" },
            results.created,
            results.machine.cpu
        );
        root.draw(&Text::new(title, (10, 6), text(14)))
            .context("plot: title")?;
        let mut y = ROW + 6;
        for suite in &results.suites {
            root.draw(&Text::new(
                format!("{} ({})", suite.suite, suite.image),
                (10, y),
                text(13).style(FontStyle::Bold),
            ))
            .context("plot: suite heading")?;
            y += ROW;
            for f in &suite.figures {
                let scale = unit_scale(&suite.figures, &f.unit);
                let x = |v: f64| LABEL_W + ((v / scale).clamp(0.0, 1.0) * BAR_W as f64) as i32;
                root.draw(&Text::new(f.name.clone(), (20, y + 3), text(12)))
                    .context("plot: label")?;
                root.draw(&Rectangle::new(
                    [(LABEL_W, y + 3), (x(f.value), y + ROW - 5)],
                    RGBColor(70, 110, 180).filled(),
                ))
                .context("plot: bar")?;
                let mid = y + ROW / 2 - 1;
                root.draw(&PathElement::new(
                    vec![(x(f.min), mid), (x(f.max), mid)],
                    BLACK.stroke_width(1),
                ))
                .context("plot: whisker")?;
                if let Some(goal) = goal_value(f) {
                    root.draw(&PathElement::new(
                        vec![(x(goal), y + 1), (x(goal), y + ROW - 3)],
                        RED.stroke_width(2),
                    ))
                    .context("plot: goal")?;
                }
                let mark = match f.met {
                    Some(true) => " ✓",
                    Some(false) => " ✗",
                    None => "",
                };
                let value = format!(
                    "{}{}{mark}",
                    show(f.value, &f.unit),
                    f.goal
                        .as_ref()
                        .map(|g| format!(" (goal {g})"))
                        .unwrap_or_default()
                );
                root.draw(&Text::new(value, (LABEL_W + BAR_W + 10, y + 3), text(12)))
                    .context("plot: value")?;
                y += ROW;
            }
        }
        root.present().context("plot: rendering")?;
    }
    Ok(out)
}

/// One line of a [`lines`] chart: its name and its (x, y) points.
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart of `lines` with the axes named, each line in its own colour
/// with a legend.
pub fn lines(title: &str, x_label: &str, y_label: &str, lines: &[Line]) -> Result<String> {
    let all = || lines.iter().flat_map(|l| l.points.iter());
    let span = |values: Vec<f64>| {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        match (lo.is_finite(), hi.is_finite()) {
            (true, true) if hi > lo => lo..hi + (hi - lo) * 0.05,
            (true, true) => lo - 1.0..hi + 1.0,
            _ => 0.0..1.0,
        }
    };
    let xs = span(all().map(|p| p.0).collect());
    let ys = span(all().map(|p| p.1).chain([0.0]).collect());
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, 540)).into_drawing_area();
        root.fill(&WHITE).context("plot: background")?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(xs, ys)
            .context("plot: axes")?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .context("plot: grid")?;
        for (i, line) in lines.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(line.points.clone(), colour.stroke_width(2)))
                .context("plot: line")?
                .label(line.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(
                    line.points
                        .iter()
                        .map(|&p| Circle::new(p, 3, colour.filled())),
                )
                .context("plot: points")?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .context("plot: legend")?;
        root.present().context("plot: rendering")?;
    }
    Ok(out)
}

/// The number a goal text such as "<= 8 s", ">= 0.7 GFLOP/s" or "<= 0.15x"
/// names (older results files wrote the last without its `x`).
fn goal_value(f: &Figure) -> Option<f64> {
    let text = f.goal.as_deref()?.trim_start_matches(['<', '>', '=', ' ']);
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

fn unit_scale(figures: &[Figure], unit: &str) -> f64 {
    figures
        .iter()
        .filter(|f| f.unit == unit)
        .flat_map(|f| [f.max, f.value, goal_value(f).unwrap_or(0.0)])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::super::results::tests::sample;
    use super::super::results::Goal;
    use super::*;

    #[test]
    fn goal_values_are_read_back_from_their_text() {
        assert_eq!(
            goal_value(&Figure::single("a", 1.0, "s", Some(Goal::AtMost(8.0)))),
            Some(8.0)
        );
        assert_eq!(
            goal_value(&Figure::single(
                "a",
                1.0,
                "GFLOP/s",
                Some(Goal::AtLeast(0.7))
            )),
            Some(0.7)
        );
        assert_eq!(
            goal_value(&Figure::single("a", 1.0, "x", Some(Goal::AtMost(0.15)))),
            Some(0.15)
        );
        let mut old = Figure::single("a", 1.0, "x", None);
        old.goal = Some("<= 0.15".into());
        assert_eq!(goal_value(&old), Some(0.15));
        assert_eq!(goal_value(&Figure::single("a", 1.0, "s", None)), None);
    }

    #[test]
    fn a_line_chart_has_a_path_and_a_legend_entry_per_line() {
        let two = [
            Line {
                name: "cycles=50".into(),
                points: vec![(256.0, 10.0), (1024.0, 40.0)],
            },
            Line {
                name: "cycles=100".into(),
                points: vec![(256.0, 20.0), (1024.0, 80.0)],
            },
        ];
        let svg = lines("t", "flops_per_unit", "sst.cycles", &two).unwrap();
        assert!(
            svg.contains("cycles=50")
                && svg.contains("cycles=100")
                && svg.contains("flops_per_unit"),
            "{svg}"
        );
        assert!(svg.matches("<polyline").count() >= 2, "{svg}");
    }

    #[test]
    fn the_svg_has_a_bar_and_a_label_per_figure() {
        let mut r = sample("t", vec![4.0, 5.0]);
        r.suites[0]
            .figures
            .push(Figure::single("login prompt", 15.0, "s", None));
        let svg = svg(&r).unwrap();
        assert!(
            svg.starts_with("<svg")
                && svg.contains("login prompt")
                && svg.contains("(goal &lt;= 8 s)"),
            "{svg}"
        );
        assert_eq!(
            svg.matches("<rect").count(),
            3,
            "background + two bars: {svg}"
        );
    }
}
