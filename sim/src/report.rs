//! A scenario's report: plain data (serde), rendered as a terminal table, JSON or CSV.
//!
//! Invariants: every collection is a `Vec` in a fixed order (never a hash map), so
//! serialising the same report twice gives the same bytes.

use serde::Serialize;

/// What a scenario returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The scenario's name (`proactive-shrink`, …).
    pub scenario: String,
    /// One paragraph: what was run and what it reproduces.
    pub description: String,
    /// The seed every generator was derived from.
    pub seed: u64,
    /// The runs, in the order they were made (e.g. legacy, hysteresis, proactive).
    pub runs: Vec<Run>,
    /// Tables that compare runs (or stand alone, e.g. the footprint table).
    pub tables: Vec<Table>,
    /// The qualitative findings, one sentence each, with the numbers behind them.
    pub findings: Vec<String>,
}

/// One configuration of a scenario, run from start to end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// Short name (`legacy`, `hysteresis`, `proactive`, …).
    pub name: String,
    /// Logical ticks simulated.
    pub ticks: u64,
    /// Page accesses simulated in the run, pre-fill included (each may fault, reclaim
    /// and swap).
    pub events: u64,
    /// Global counters (`/sys/kernel/debug/zswap/*`, `/proc/vmstat`) at start and end.
    pub counters: Vec<Counter>,
    /// Per-run tables (per-memcg counters, who was written back, …).
    pub tables: Vec<Table>,
    /// Timelines to plot.
    pub plots: Vec<Plot>,
}

/// A counter at the start and the end of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counter {
    /// The kernel's name for it (`pool_limit_hit`, `pswpin`, …).
    pub name: String,
    /// Value when the measured phase started.
    pub start: u64,
    /// Value at the end.
    pub end: u64,
}

impl Counter {
    /// `end - start` (saturating: gauges may fall).
    pub fn delta(&self) -> i128 {
        self.end as i128 - self.start as i128
    }
}

/// A titled table of text cells; numbers are formatted by the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// The title printed above it.
    pub title: String,
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<String>>,
}

/// A timeline: several series over logical time, sharing one y axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plot {
    /// File stem (`pool`, `swapins`, `writeback`); `--plot DIR` writes `<run>-<id>.svg`.
    pub id: String,
    /// The title.
    pub title: String,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// The series, drawn as lines.
    pub series: Vec<Series>,
    /// Horizontal reference lines (pool limit, accept threshold), drawn dashed.
    pub marks: Vec<Mark>,
}

/// One line of a plot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// (tick, value) points in increasing tick order.
    pub points: Vec<(u64, f64)>,
}

/// A horizontal reference line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    /// The legend entry.
    pub name: String,
    /// Its y value.
    pub value: f64,
}

/// Terminal width the description and the findings are wrapped to.
const WRAP: usize = 90;

/// Width of `s` in terminal columns (one per `char`: the scenarios' text has no wide
/// characters).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` padded to `w` columns, on the left (`right`) or on the right.
fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(width(s)));
    if right { format!("{fill}{s}") } else { format!("{s}{fill}") }
}

/// Greedy word wrap of `text` to `cols` columns; the first line starts with `first`, the
/// others with `rest`. A word longer than a line gets a line of its own.
fn wrap(text: &str, cols: usize, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && width(&line) + 1 + width(word) > cols {
            out.push_str(line.trim_end());
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// Whether a cell reads as a number (`12`, `-3`, `+4.5`, `12.5%`, `3.1 MB`): such
/// columns are right-aligned.
fn numeric(cell: &str) -> bool {
    let mut chars = cell.trim().chars();
    match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('+' | '-' | '.') => chars.next().is_some_and(|c| c.is_ascii_digit() || c == '.'),
        _ => false,
    }
}

/// A signed delta: `+12`, `-3`, `0`.
fn signed(d: i128) -> String {
    if d == 0 { "0".to_string() } else { format!("{d:+}") }
}

/// Lay out `header` and `rows` in columns two spaces apart, indented by two, with a rule
/// under the header. Columns whose body cells are all numbers (or empty) are
/// right-aligned, the others left-aligned; rows shorter than the header are padded
/// with empty cells, longer ones widen the table.
fn grid(header: &[String], rows: &[Vec<String>]) -> String {
    let ncols = rows.iter().map(Vec::len).chain([header.len()]).max().unwrap_or(0);
    let cell = |row: &[String], c: usize| row.get(c).map_or("", String::as_str).to_string();
    let widths: Vec<usize> = (0..ncols)
        .map(|c| rows.iter().map(|r| width(&cell(r, c))).chain([width(&cell(header, c))]).max().unwrap_or(0))
        .collect();
    let right: Vec<bool> = (0..ncols)
        .map(|c| {
            // Empty cells and `-` placeholders do not decide the alignment.
            let mut body = rows.iter().map(|r| cell(r, c)).filter(|s| !matches!(s.trim(), "" | "-")).peekable();
            body.peek().is_some() && body.all(|s| numeric(&s))
        })
        .collect();
    let line = |row: &[String]| {
        let cells: Vec<String> = (0..ncols).map(|c| pad(&cell(row, c), widths[c], right[c])).collect();
        format!("  {}", cells.join("  ")).trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("  {}\n", rule.join("  ")));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// One titled table, followed by a blank line.
fn render_one(t: &Table) -> String {
    format!("{}\n{}\n", t.title, grid(&t.columns, &t.rows))
}

/// The counters of a run as a start / end / delta table (the kernel cover letters'
/// before / after layout): names left, numbers right-aligned, deltas signed.
fn render_counters(counters: &[Counter]) -> String {
    let header: Vec<String> = ["counter", "start", "end", "delta"].map(String::from).to_vec();
    let rows: Vec<Vec<String>> = counters
        .iter()
        .map(|c| vec![c.name.clone(), c.start.to_string(), c.end.to_string(), signed(c.delta())])
        .collect();
    grid(&header, &rows)
}

/// The report as a terminal table: the scenario's name, seed and description (wrapped
/// at 90 columns); per run its counters (start, end, signed delta) and its tables; the
/// report's comparison tables; the findings as bullets. Plain text, no colours, the same
/// bytes for the same report.
pub fn render_table(r: &Report) -> String {
    let mut out = format!("{} (seed {})\n", r.scenario, r.seed);
    out.push_str(&"=".repeat(width(&out) - 1));
    out.push('\n');
    if !r.description.trim().is_empty() {
        out.push_str(&wrap(&r.description, WRAP, "", ""));
    }
    out.push('\n');
    for run in &r.runs {
        let head = format!("run {}: {} ticks, {} events", run.name, run.ticks, run.events);
        out.push_str(&format!("{head}\n{}\n", "-".repeat(width(&head))));
        if !run.counters.is_empty() {
            out.push_str(&render_counters(&run.counters));
            out.push('\n');
        }
        for t in &run.tables {
            out.push_str(&render_one(t));
        }
        if !run.plots.is_empty() {
            let ids: Vec<&str> = run.plots.iter().map(|p| p.id.as_str()).collect();
            out.push_str(&format!("timelines: {} (--plot DIR draws them)\n\n", ids.join(", ")));
        }
    }
    if !r.tables.is_empty() {
        if !r.runs.is_empty() {
            let head = "comparison";
            out.push_str(&format!("{head}\n{}\n", "-".repeat(width(head))));
        }
        for t in &r.tables {
            out.push_str(&render_one(t));
        }
    }
    if !r.findings.is_empty() {
        out.push_str("findings\n--------\n");
        for f in &r.findings {
            out.push_str(&wrap(f, WRAP, "  * ", "    "));
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The report as pretty-printed JSON with a trailing newline. Equal reports give equal
/// bytes (the fields serialise in declaration order, every collection is a `Vec`);
/// non-finite plot values become `null`.
pub fn to_json(r: &Report) -> String {
    // Serialising a tree of structs, strings, numbers and Vecs cannot fail.
    let mut s = serde_json::to_string_pretty(r).expect("a Report serialises");
    s.push('\n');
    s
}

/// One CSV field, quoted per RFC 4180 when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// The report in long CSV form, header `scenario,run,table,row,column,value`, one line
/// (`\n`-terminated) per value:
/// * counters: `table` = `counters`, `row` = the counter, `column` = `start`, `end` or
///   `delta` (signed);
/// * table cells: `table` = the title, `row` = the row's first cell, `column` = the
///   header; report-level tables have an empty `run`;
/// * plot points: `table` = `plot:<id>`, `row` = the series, `column` = the tick
///   (marks are not points and are left out).
pub fn to_csv(r: &Report) -> String {
    let mut out = String::from("scenario,run,table,row,column,value\n");
    let mut line = |run: &str, table: &str, row: &str, column: &str, value: &str| {
        let fields = [r.scenario.as_str(), run, table, row, column, value].map(csv_field);
        out.push_str(&fields.join(","));
        out.push('\n');
    };
    let tables = |run: &str, ts: &[Table], line: &mut dyn FnMut(&str, &str, &str, &str, &str)| {
        for t in ts {
            for row in &t.rows {
                let label = row.first().map_or("", String::as_str);
                for (c, value) in row.iter().enumerate() {
                    line(run, &t.title, label, t.columns.get(c).map_or("", String::as_str), value);
                }
            }
        }
    };
    for run in &r.runs {
        for c in &run.counters {
            line(&run.name, "counters", &c.name, "start", &c.start.to_string());
            line(&run.name, "counters", &c.name, "end", &c.end.to_string());
            line(&run.name, "counters", &c.name, "delta", &signed(c.delta()));
        }
        tables(&run.name, &run.tables, &mut line);
        for p in &run.plots {
            let table = format!("plot:{}", p.id);
            for s in &p.series {
                for (tick, value) in &s.points {
                    line(&run.name, &table, &s.name, &tick.to_string(), &value.to_string());
                }
            }
        }
    }
    tables("", &r.tables, &mut line);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn sample() -> Report {
        let table = Table {
            title: "per memcg".into(),
            columns: strings(&["memcg", "swapins", "note"]),
            rows: vec![strings(&["a", "7", "plain"]), strings(&["bb", "12345", "x, \"y\"\nz"])],
        };
        let plot = Plot {
            id: "pool".into(),
            title: "zswap pool".into(),
            y_label: "pages".into(),
            series: vec![Series { name: "pool, pages".into(), points: vec![(0, 1.5), (10, 2.0)] }],
            marks: vec![Mark { name: "limit".into(), value: 3.0 }],
        };
        Report {
            scenario: "demo".into(),
            description: "word ".repeat(40),
            seed: 7,
            runs: vec![Run {
                name: "legacy".into(),
                ticks: 10,
                events: 99,
                counters: vec![
                    Counter { name: "pool_limit_hit".into(), start: 3, end: 1003 },
                    Counter { name: "stored_pages".into(), start: 50, end: 8 },
                    Counter { name: "x".into(), start: 4, end: 4 },
                ],
                tables: vec![table.clone()],
                plots: vec![plot],
            }],
            tables: vec![Table { title: "comparison".into(), ..table }],
            findings: vec!["legacy hit the limit 1000 times".into()],
        }
    }

    #[test]
    fn the_table_aligns_numbers_right_and_signs_deltas() {
        let text = render_table(&sample());
        assert!(text.starts_with("demo (seed 7)\n=============\n"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= WRAP), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let at = |name: &str| *lines.iter().find(|l| l.trim_start().starts_with(name)).unwrap();
        // Widths from the content: the widest name, then `1003` / `+1000` right-aligned.
        assert_eq!(at("counter"), "  counter         start   end  delta");
        assert_eq!(at("pool_limit_hit"), "  pool_limit_hit      3  1003  +1000");
        assert_eq!(at("stored_pages"), "  stored_pages       50     8    -42");
        assert_eq!(at("x "), "  x                   4     4      0");
        assert!(text.contains("  memcg  swapins  note\n  -----  -------  -----"), "{text}");
        assert!(text.contains("  a            7  plain\n"), "{text}");
        assert!(text.contains("findings\n--------\n  * legacy hit the limit 1000 times\n"), "{text}");
        assert!(!text.ends_with("\n\n") && text.ends_with('\n'));
    }

    #[test]
    fn wrapping_and_alignment_helpers() {
        assert_eq!(wrap("aa bb cc", 5, "", ""), "aa bb\ncc\n");
        assert_eq!(wrap("aa bb cc", 6, "* ", "  "), "* aa\n  bb\n  cc\n");
        assert_eq!(wrap("averylongword x", 4, "", ""), "averylongword\nx\n");
        assert!(numeric("12") && numeric("-3") && numeric("+4.5") && numeric("12.5%") && numeric(".5"));
        assert!(!numeric("-") && !numeric("legacy") && !numeric(""));
        assert_eq!((signed(5), signed(-5), signed(0)), ("+5".to_string(), "-5".to_string(), "0".to_string()));
        // A `-` placeholder keeps a numeric column right-aligned; ragged rows are padded.
        let g = grid(&strings(&["k", "v"]), &[strings(&["a", "100"]), strings(&["b", "-"]), strings(&["c"])]);
        assert_eq!(g, "  k    v\n  -  ---\n  a  100\n  b    -\n  c\n");
    }

    #[test]
    fn csv_is_long_and_quoted() {
        let csv = to_csv(&sample());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "scenario,run,table,row,column,value");
        assert!(lines.contains(&"demo,legacy,counters,pool_limit_hit,delta,+1000"));
        assert!(lines.contains(&"demo,legacy,counters,stored_pages,start,50"));
        assert!(lines.contains(&"demo,legacy,per memcg,a,swapins,7"));
        assert!(lines.contains(&"demo,,comparison,bb,swapins,12345"), "report-level tables have no run");
        assert!(lines.contains(&"demo,legacy,plot:pool,\"pool, pages\",10,2"));
        assert!(csv.contains("demo,legacy,per memcg,bb,note,\"x, \"\"y\"\"\nz\"\n"), "{csv}");
        // 3 counters x 3 + 2 tables x 2 rows x 3 cells + 2 points, and the header.
        assert_eq!(csv.matches("\ndemo,").count(), 9 + 12 + 2);
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a\rb"), "\"a\rb\"");
    }

    #[test]
    fn json_is_deterministic_and_newline_terminated() {
        let (a, b) = (sample(), sample());
        let (ja, jb) = (to_json(&a), to_json(&b));
        assert_eq!(ja, jb);
        assert!(ja.ends_with("}\n") && ja.starts_with("{\n  \"scenario\": \"demo\""), "{ja}");
        let v: serde_json::Value = serde_json::from_str(&ja).unwrap();
        assert_eq!(v["runs"][0]["counters"][0]["end"], 1003);
        assert_eq!(v["runs"][0]["plots"][0]["series"][0]["points"][1], serde_json::json!([10, 2.0]));
    }
}
