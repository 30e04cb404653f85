//! SVG timelines for `--plot DIR`: one chart per [`Plot`] of every run, drawn with
//! `plotters`' SVG backend.
//!
//! Each chart has the tick on x and the plot's value on y, a solid line per series, a
//! dashed horizontal line per mark (pool limit, accept threshold), axes with about five
//! round ticks, axis labels, a title and a legend naming every series and mark.
//!
//! Invariants:
//! * the output is a pure function of the plot and the run name: no fonts are read
//!   (plotters is built without a font backend, so text goes out as SVG `<text>` laid
//!   out from an estimate of its width) and no clock or global is consulted, so the same
//!   input gives the same bytes;
//! * non-finite values (NaN, ±inf) are skipped, never drawn or used for the axes;
//! * empty series, a single point, or a plot with nothing finite at all still give a
//!   complete SVG document (an empty plot gets unit axes);
//! * a series with more points than about two per pixel column is thinned to the first,
//!   lowest, highest and last point of each column, which draws the same picture.

use crate::report::{Plot, Report};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Width of a chart, pixels.
const WIDTH: u32 = 800;
/// Height of a chart, pixels.
const HEIGHT: u32 = 450;

/// Series colours, in order (Tableau 10), distinct from the marks' colours.
const SERIES: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Mark colours, in order.
const MARKS: [RGBColor; 3] = [RGBColor(64, 64, 64), RGBColor(160, 120, 0), RGBColor(128, 128, 128)];

/// The points of a series that can be drawn (finite values), thinned to at most four
/// per pixel column of the `x0..=x1` axis.
fn drawable(points: &[(u64, f64)], x0: u64, x1: u64) -> Vec<(u64, f64)> {
    let finite: Vec<(u64, f64)> = points.iter().copied().filter(|(_, v)| v.is_finite()).collect();
    let columns = u64::from(WIDTH);
    if finite.len() as u64 <= 2 * columns {
        return finite;
    }
    let span = (x1 - x0).max(1);
    let column = |x: u64| ((u128::from(x.saturating_sub(x0)) * u128::from(columns)) / u128::from(span)) as u64;
    let mut out = Vec::with_capacity(4 * columns as usize);
    let mut rest = finite.as_slice();
    while let Some(first) = rest.first() {
        let c = column(first.0);
        let n = rest.iter().position(|p| column(p.0) != c).unwrap_or(rest.len());
        let (bucket, tail) = rest.split_at(n);
        let lo = bucket.iter().enumerate().min_by(|a, b| a.1.1.total_cmp(&b.1.1)).map_or(0, |(i, _)| i);
        let hi = bucket.iter().enumerate().max_by(|a, b| a.1.1.total_cmp(&b.1.1)).map_or(0, |(i, _)| i);
        let mut keep = [0, lo, hi, n - 1];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for i in keep {
            if i != last {
                out.push(bucket[i]);
                last = i;
            }
        }
        rest = tail;
    }
    out
}

/// Decimals a y label needs for ticks about a fifth of `span` apart (0 for spans of 5 and
/// more, at most 6). Plain arithmetic, so the same on every platform.
fn decimals(span: f64) -> usize {
    let mut step = span / 5.0;
    let mut d = 0;
    while step < 1.0 && d < 6 {
        step *= 10.0;
        d += 1;
    }
    d
}

/// A y tick label: `v` with `d` decimals, `-0` printed as `0`.
fn label(v: f64, d: usize) -> String {
    let s = format!("{v:.d$}");
    if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') { format!("{:.d$}", 0.0) } else { s }
}

/// `<run>: <title>`, or the title alone when it already starts with the run's name.
fn title(title: &str, run: &str) -> String {
    if run.is_empty() || title.starts_with(run) { title.to_string() } else { format!("{run}: {title}") }
}

/// The chart of `p` for run `run` as a complete SVG document (`<svg …>…</svg>`), titled
/// `<run>: <title>` (unless the title already names the run). See the module
/// documentation for what is drawn and skipped.
pub fn render_svg(p: &Plot, run: &str) -> String {
    let mut out = String::new();
    match draw(p, run, &mut out) {
        Ok(()) => out,
        // The SVG backend writes to a String and cannot fail; a layout plotters refuses
        // still gives a well-formed (if empty) document.
        Err(e) => format!(
            "<svg width=\"{WIDTH}\" height=\"{HEIGHT}\" xmlns=\"http://www.w3.org/2000/svg\"><!-- {} --></svg>\n",
            e.to_string().replace("--", "- -")
        ),
    }
}

/// Draw `p` into `out`.
fn draw(p: &Plot, run: &str, out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let finite = || p.series.iter().flat_map(|s| s.points.iter()).filter(|(_, v)| v.is_finite());
    let (mut x0, mut x1) = finite().fold((u64::MAX, 0), |(lo, hi), &(x, _)| (lo.min(x), hi.max(x)));
    if x0 > x1 {
        (x0, x1) = (0, 1);
    } else if x0 == x1 {
        x1 = x0.saturating_add(1);
        x0 = x1 - 1;
    }
    let values = finite().map(|&(_, v)| v).chain(p.marks.iter().map(|m| m.value).filter(|v| v.is_finite()));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // Timelines of sizes and counts start at 0; a little headroom above the highest value.
    let (y0, mut y1) = if lo > hi { (0.0, 1.0) } else { (lo.min(0.0), hi) };
    if y1 - y0 <= f64::EPSILON * y1.abs().max(1.0) || !(y1 - y0).is_finite() {
        y1 = y0 + y0.abs().max(1.0);
    }
    let y1 = y1 + (y1 - y0) * 0.05;
    let d = decimals(y1 - y0);
    let widest = [y0, y1, -y1.abs()].iter().map(|v| label(*v, d).len()).max().unwrap_or(1) as u32;

    let root = SVGBackend::with_string(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title(&p.title, run), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(30 + 7 * widest)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let y_fmt = |v: &f64| label(*v, d);
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_desc("tick")
        .y_desc(p.y_label.as_str())
        .y_label_formatter(&y_fmt)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .draw()?;
    for (i, s) in p.series.iter().enumerate() {
        let color = SERIES[i % SERIES.len()];
        let points = drawable(&s.points, x0, x1);
        let line = LineSeries::new(points.iter().copied(), color.stroke_width(2));
        // A lone point draws no line: mark it with a dot.
        let line = if points.len() == 1 { line.point_size(3) } else { line };
        chart
            .draw_series(line)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    for (i, m) in p.marks.iter().enumerate().filter(|(_, m)| m.value.is_finite()) {
        let color = MARKS[i % MARKS.len()];
        let dashed = DashedLineSeries::new([(x0, m.value), (x1, m.value)], 8, 5, color.stroke_width(1));
        chart
            .draw_series(dashed)?
            .label(format!("{} ({})", m.name, label(m.value, d)))
            .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 20, y)], 6, 3, color.stroke_width(1)));
    }
    if !p.series.is_empty() || !p.marks.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// `s` with every character outside `[A-Za-z0-9._-]` replaced by `_`, for file names.
fn file_stem(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect()
}

/// Write `<run>-<plot id>.svg` into `dir` (created if missing) for every plot of every
/// run of `r`, in report order; returns the paths written. Characters other than
/// letters, digits, `.`, `_` and `-` in the names become `_`.
pub fn write_svgs(r: &Report, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for run in &r.runs {
        for p in &run.plots {
            let path = dir.join(format!("{}-{}.svg", file_stem(&run.name), file_stem(&p.id)));
            std::fs::write(&path, render_svg(p, &run.name))?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Mark, Series};

    fn plot(series: Vec<Series>, marks: Vec<Mark>) -> Plot {
        Plot { id: "pool".into(), title: "zswap pool".into(), y_label: "pages".into(), series, marks }
    }

    fn series(name: &str, points: &[(u64, f64)]) -> Series {
        Series { name: name.into(), points: points.to_vec() }
    }

    /// Polylines in the stroke colour of series `i` (its line and its legend sample).
    fn strokes(svg: &str, i: usize) -> usize {
        let RGBColor(r, g, b) = SERIES[i];
        svg.matches(&format!("stroke=\"#{r:02X}{g:02X}{b:02X}\" stroke-width=\"2\"")).count()
    }

    // Each render is ~10 s under Miri and plots have no unsafe code; Miri renders only the
    // degenerate cases below.
    #[test]
    #[cfg_attr(miri, ignore = "slow under Miri; the degenerate cases cover rendering there")]
    fn a_timeline_has_a_line_per_series_its_legend_and_the_marks() {
        let p = plot(
            vec![
                series("legacy", &[(0, 10.0), (50, 80.0), (100, 40.0)]),
                series("proactive", &[(0, 5.0), (100, 20.0)]),
            ],
            vec![
                Mark { name: "pool limit".into(), value: 90.0 },
                Mark { name: "accept <threshold>".into(), value: 81.0 },
            ],
        );
        let svg = render_svg(&p, "run1");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert_eq!((strokes(&svg, 0), strokes(&svg, 1)), (2, 2), "{svg}");
        for text in ["run1: zswap pool", "legacy", "proactive", "pool limit (90)", "accept &lt;threshold&gt; (81)"] {
            assert!(svg.contains(text), "{text} missing: {svg}");
        }
        assert!(svg.contains(">\ntick\n<") && svg.contains(">\npages\n<"), "axis labels");
        // Dashed marks: many short segments in the marks' colours.
        assert!(svg.matches("stroke=\"#404040\"").count() > 10, "{svg}");
        // About five round ticks on x.
        for tick in [">\n0\n<", ">\n20\n<", ">\n100\n<"] {
            assert!(svg.contains(tick), "{tick}: {svg}");
        }
        assert_eq!(svg, render_svg(&p.clone(), "run1"), "deterministic");
    }

    #[test]
    fn degenerate_input_gives_a_document() {
        let nan = plot(vec![series("bad", &[(0, f64::NAN), (5, f64::INFINITY), (9, f64::NEG_INFINITY)])], vec![]);
        let empty = plot(vec![series("none", &[])], vec![Mark { name: "m".into(), value: f64::NAN }]);
        // A lone point, and a NaN between two points: a dot, and one line.
        let single = plot(vec![series("one", &[(7, 3.0)]), series("s", &[(0, 1.0), (1, f64::NAN), (2, 3.0)])], vec![]);
        let nothing = plot(vec![], vec![]);
        let cases = if cfg!(miri) { vec![&nan, &single] } else { vec![&nan, &empty, &single, &nothing] };
        for p in cases {
            let svg = render_svg(p, "r");
            assert!(svg.starts_with("<svg") && svg.contains("r: zswap pool"), "{svg}");
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            if std::ptr::eq(p, &single) {
                assert!(svg.contains("<circle"), "a lone point is drawn as a dot: {svg}");
                assert_eq!(strokes(&svg, 1), 2, "{svg}");
            }
        }
    }

    #[test]
    fn long_series_are_thinned_per_pixel_column() {
        let n = if cfg!(miri) { 2000 } else { 20_000 };
        let points: Vec<(u64, f64)> = (0..n).map(|i| (i, (i % 97) as f64)).collect();
        let thin = drawable(&points, 0, n - 1);
        assert!(thin.len() <= 4 * WIDTH as usize + 4 && thin.len() > WIDTH as usize, "{}", thin.len());
        assert!(thin.windows(2).all(|w| w[0].0 < w[1].0), "tick order kept");
        assert_eq!((thin[0], *thin.last().unwrap()), (points[0], *points.last().unwrap()));
        assert!(thin.iter().any(|p| p.1 == 96.0) && thin.iter().any(|p| p.1 == 0.0), "extremes kept");
        assert_eq!(drawable(&[(1, 1.0), (2, f64::NAN)], 0, 10), vec![(1, 1.0)]);
    }

    #[test]
    fn labels_and_file_names() {
        assert_eq!((decimals(1000.0), decimals(5.0), decimals(1.0), decimals(0.01)), (0, 0, 1, 3));
        assert_eq!((label(-0.0001, 2), label(2.5, 1), label(1e6, 0)), ("0.00".into(), "2.5".into(), "1000000".into()));
        assert_eq!(file_stem("a b/c.d-e_f"), "a_b_c.d-e_f");
        assert_eq!(
            (title("pool", "legacy"), title("legacy: pool", "legacy")),
            ("legacy: pool".into(), "legacy: pool".into())
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri's isolation forbids the file system")]
    fn svgs_are_written_per_run_and_plot() {
        let dir = std::env::temp_dir().join(format!("vswap-plot-test-{}", std::process::id()));
        let p = plot(vec![series("s", &[(0, 1.0), (1, 2.0)])], vec![]);
        let run = |name: &str| crate::report::Run {
            name: name.into(),
            ticks: 1,
            events: 0,
            counters: vec![],
            tables: vec![],
            plots: vec![p.clone(), Plot { id: "swapins".into(), ..p.clone() }],
        };
        let r = Report {
            scenario: "s".into(),
            description: String::new(),
            seed: 1,
            runs: vec![run("legacy"), run("pro active")],
            tables: vec![],
            findings: vec![],
        };
        let paths = write_svgs(&r, &dir.join("sub")).unwrap();
        let names: Vec<String> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["legacy-pool.svg", "legacy-swapins.svg", "pro_active-pool.svg", "pro_active-swapins.svg"]);
        assert_eq!(std::fs::read_to_string(&paths[0]).unwrap(), render_svg(&p, "legacy"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
