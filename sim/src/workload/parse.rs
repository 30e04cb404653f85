//! The workload file format (TOML; see `workloads/example.toml`), its reader, the
//! checks every workload passes, and the writer ([`Workload::to_toml`]).
//!
//! Reading goes in three steps: serde fills raw structs whose values keep their byte
//! spans (`toml::Spanned`), which catches syntax errors, unknown keys and wrong types;
//! the raw values are converted (names resolved, strings such as `ratio:0.3` parsed);
//! then [`check`] runs the same checks as [`Workload::validate`], and a failure is
//! located at the span of the value it names.

use super::{Data, MAX_REGION_PAGES, Pattern, Phase, Process, Region, Stream, Workload, WorkloadError};
use serde::Deserialize;
use std::fmt::Write;
use std::ops::Range;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: Spanned<String>,
    #[serde(default)]
    region: Vec<RawRegion>,
    #[serde(default)]
    phase: Vec<RawPhase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    name: Spanned<String>,
    pages: Spanned<u64>,
    data: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    name: Spanned<String>,
    ticks: Spanned<u64>,
    accesses_per_tick: Spanned<u64>,
    fork: Option<Spanned<bool>>,
    child_exit: Option<Spanned<bool>>,
    #[serde(default)]
    stream: Vec<RawStream>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStream {
    region: Spanned<String>,
    pattern: Spanned<String>,
    weight: Option<Spanned<u64>>,
    writes: Option<Spanned<u64>>,
    process: Option<Spanned<String>>,
}

/// A value of a workload that a check can fail on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Name,
    Regions,
    Phases,
    Pages,
    Data,
    Ticks,
    AccessesPerTick,
    Fork,
    ChildExit,
    Streams,
    Region,
    Pattern,
    Weight,
    Writes,
    Process,
}

/// Where a check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Site {
    /// A top-level value.
    Top(Field),
    /// A value of region `.0`.
    Region(usize, Field),
    /// A value of phase `.0`.
    Phase(usize, Field),
    /// A value of stream `.1` of phase `.0`.
    Stream(usize, usize, Field),
}

impl Site {
    /// The site in words, for errors without a line ("phase \"warm\" stream 2").
    pub(super) fn describe(self, w: &Workload) -> String {
        let phase = |p: usize| w.phases.get(p).map_or(format!("phase {p}"), |ph| format!("phase {:?}", ph.name));
        match self {
            Site::Top(_) => "workload".to_owned(),
            Site::Region(r, _) => w.regions.get(r).map_or(format!("region {r}"), |r| format!("region {:?}", r.name)),
            Site::Phase(p, _) => phase(p),
            Site::Stream(p, s, _) => format!("{} stream {}", phase(p), s + 1),
        }
    }

    /// The span of the value in the raw file (falling back to the enclosing table's
    /// first required value when the key was left out).
    fn span(self, raw: &RawWorkload) -> Range<usize> {
        fn sp<T>(o: &Option<Spanned<T>>, or: Range<usize>) -> Range<usize> {
            o.as_ref().map_or(or, Spanned::span)
        }
        match self {
            Site::Top(_) => raw.name.span(),
            Site::Region(r, f) => {
                let r = &raw.region[r];
                match f {
                    Field::Pages => r.pages.span(),
                    Field::Data => r.data.span(),
                    _ => r.name.span(),
                }
            }
            Site::Phase(p, f) => {
                let p = &raw.phase[p];
                match f {
                    Field::Ticks => p.ticks.span(),
                    Field::AccessesPerTick => p.accesses_per_tick.span(),
                    Field::Fork => sp(&p.fork, p.name.span()),
                    Field::ChildExit => sp(&p.child_exit, p.name.span()),
                    _ => p.name.span(),
                }
            }
            Site::Stream(p, s, f) => {
                let s = &raw.phase[p].stream[s];
                match f {
                    Field::Pattern => s.pattern.span(),
                    Field::Weight => sp(&s.weight, s.region.span()),
                    Field::Writes => sp(&s.writes, s.region.span()),
                    Field::Process => sp(&s.process, s.region.span()),
                    _ => s.region.span(),
                }
            }
        }
    }
}

/// The 1-based line of byte `offset` of `text`; an error at the very end (after the
/// last newline, "expected `]`") is put on the last line.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    let line = text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    line.min(text.lines().count().max(1))
}

/// Parses a workload file (see [`Workload::parse`]).
pub(super) fn parse(file: &str, text: &str) -> Result<Workload, WorkloadError> {
    let error = |span: Option<Range<usize>>, message: String| WorkloadError {
        file: file.to_owned(),
        line: span.map_or(1, |s| line_of(text, s.start)),
        message,
    };
    let raw: RawWorkload = toml::from_str(text).map_err(|e| {
        // Syntax errors come on two lines ("invalid string\nexpected `\"`"): join them.
        let lines: Vec<&str> = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let message = if lines.is_empty() { "invalid TOML".to_owned() } else { lines.join(": ") };
        error(e.span(), message)
    })?;
    let w = convert(&raw, text).map_err(|(span, message)| error(Some(span), message))?;
    check(&w).map_err(|(site, message)| error(Some(site.span(&raw)), message))?;
    Ok(w)
}

/// The raw values as a [`Workload`]: names resolved and strings parsed, the ranges left
/// to [`check`] (except those the types cannot hold).
fn convert(raw: &RawWorkload, src: &str) -> Result<Workload, (Range<usize>, String)> {
    fn err<T, V>(s: &Spanned<V>, m: String) -> Result<T, (Range<usize>, String)> {
        Err((s.span(), m))
    }
    let mut regions = Vec::with_capacity(raw.region.len());
    for (i, r) in raw.region.iter().enumerate() {
        // Before the streams look names up.
        if let Some(first) = raw.region[..i].iter().find(|o| o.name.get_ref() == r.name.get_ref()) {
            let line = line_of(src, first.name.span().start);
            return err(&r.name, format!("region {:?} is defined twice (first at line {line})", r.name.get_ref()));
        }
        let text = r.data.get_ref().as_str();
        let data = match text.split_once(':') {
            None if text == "zero" => Data::Zero,
            None if text == "incompressible" => Data::Incompressible,
            None if text == "random" => Data::Random,
            None if text == "text" => Data::Text,
            Some(("ratio", v)) => match v.trim().parse::<f64>() {
                Ok(v) => Data::Ratio(v),
                Err(_) => return err(&r.data, format!("ratio {v:?} is not a number")),
            },
            Some(("zero-fraction", v)) => match v.trim().parse::<f64>() {
                Ok(v) => Data::ZeroFraction(v),
                Err(_) => return err(&r.data, format!("zero-fraction {v:?} is not a number")),
            },
            _ => {
                return err(
                    &r.data,
                    format!(
                        "data {text:?} is not \"zero\", \"incompressible\", \"ratio:R\", \"random\", \"text\" or \
                         \"zero-fraction:F\""
                    ),
                );
            }
        };
        regions.push(Region { name: r.name.get_ref().clone(), pages: *r.pages.get_ref(), data });
    }
    let mut phases = Vec::with_capacity(raw.phase.len());
    for p in &raw.phase {
        let apt = *p.accesses_per_tick.get_ref();
        let Ok(accesses_per_tick) = u32::try_from(apt) else {
            return err(&p.accesses_per_tick, format!("accesses_per_tick {apt} is too large (at most {})", u32::MAX));
        };
        let mut streams = Vec::with_capacity(p.stream.len());
        for s in &p.stream {
            let name = s.region.get_ref();
            let Some(region) = raw.region.iter().position(|r| r.name.get_ref() == name) else {
                let names: Vec<&str> = raw.region.iter().map(|r| r.name.get_ref().as_str()).collect();
                return err(
                    &s.region,
                    format!("stream region {name:?} is not defined (regions: {})", names.join(", ")),
                );
            };
            let text = s.pattern.get_ref().as_str();
            let pattern = match text.split_once(':') {
                None if text == "random" => Pattern::Random,
                None if text == "sequential" => Pattern::Sequential,
                Some(("stride", k)) => match k.trim().parse::<u64>() {
                    Ok(k) => Pattern::Stride(k),
                    Err(_) => return err(&s.pattern, format!("stride {k:?} is not a whole number")),
                },
                _ => {
                    return err(
                        &s.pattern,
                        format!("pattern {text:?} is not \"random\", \"sequential\" or \"stride:K\""),
                    );
                }
            };
            let weight = match &s.weight {
                None => 1,
                Some(w) => match u32::try_from(*w.get_ref()) {
                    Ok(v) => v,
                    Err(_) => return err(w, format!("weight {} is too large (at most {})", w.get_ref(), u32::MAX)),
                },
            };
            let write_percent = match &s.writes {
                None => 0,
                Some(w) if *w.get_ref() <= 100 => *w.get_ref() as u8,
                Some(w) => return err(w, format!("writes {} is over 100 (a percent)", w.get_ref())),
            };
            let process = match s.process.as_ref().map(|p| (p, p.get_ref().as_str())) {
                None | Some((_, "parent")) => Process::Parent,
                Some((_, "child")) => Process::Child,
                Some((p, text)) => return err(p, format!("process {text:?} is not \"parent\" or \"child\"")),
            };
            streams.push(Stream { region, process, pattern, weight, write_percent });
        }
        phases.push(Phase {
            name: p.name.get_ref().clone(),
            ticks: *p.ticks.get_ref(),
            accesses_per_tick,
            fork: p.fork.as_ref().is_some_and(|f| *f.get_ref()),
            child_exit: p.child_exit.as_ref().is_some_and(|f| *f.get_ref()),
            streams,
        });
    }
    Ok(Workload { name: raw.name.get_ref().clone(), regions, phases })
}

/// The checks of [`Workload::validate`], in file order: the first failure and where.
pub(super) fn check(w: &Workload) -> Result<(), (Site, String)> {
    if w.regions.is_empty() {
        return Err((Site::Top(Field::Regions), "no regions (add a [[region]] table)".into()));
    }
    if w.phases.is_empty() {
        return Err((Site::Top(Field::Phases), "no phases (add a [[phase]] table)".into()));
    }
    let mut total = 0u64;
    for (i, r) in w.regions.iter().enumerate() {
        let at = |f| Site::Region(i, f);
        if let Some(first) = w.regions[..i].iter().position(|o| o.name == r.name) {
            return Err((
                at(Field::Name),
                format!("region {:?} is defined twice (first as region {})", r.name, first + 1),
            ));
        }
        if r.pages == 0 {
            return Err((at(Field::Pages), format!("region {:?} has 0 pages", r.name)));
        }
        if r.pages > MAX_REGION_PAGES {
            return Err((at(Field::Pages), format!("region {:?} has {} pages, more than 2^36", r.name, r.pages)));
        }
        match r.data {
            Data::Ratio(v) if !(v > 0.0 && v <= 1.0) => {
                return Err((at(Field::Data), format!("ratio {v} is out of range (0 < R <= 1)")));
            }
            Data::ZeroFraction(v) if !(0.0..=1.0).contains(&v) => {
                return Err((at(Field::Data), format!("zero-fraction {v} is out of range (0 <= F <= 1)")));
            }
            _ => {}
        }
        total = total.checked_add(r.pages).ok_or((at(Field::Pages), "the total size overflows u64".into()))?;
    }
    let mut ticks = 0u64;
    let mut child: Option<usize> = None; // the phase that forked the living child
    for (i, p) in w.phases.iter().enumerate() {
        let at = |f| Site::Phase(i, f);
        if p.ticks == 0 {
            return Err((at(Field::Ticks), format!("phase {:?} has 0 ticks", p.name)));
        }
        ticks = ticks.checked_add(p.ticks).ok_or((at(Field::Ticks), "the total of ticks overflows u64".into()))?;
        if p.accesses_per_tick == 0 {
            return Err((at(Field::AccessesPerTick), format!("phase {:?} has 0 accesses_per_tick", p.name)));
        }
        if p.accesses_per_tick > super::MAX_ACCESSES_PER_TICK {
            let m = format!(
                "accesses_per_tick {} is too large (at most {})",
                p.accesses_per_tick,
                super::MAX_ACCESSES_PER_TICK
            );
            return Err((at(Field::AccessesPerTick), m));
        }
        if p.fork {
            if let Some(f) = child {
                let by = &w.phases[f].name;
                return Err((at(Field::Fork), format!("fork while the child forked in phase {by:?} still exists")));
            }
            child = Some(i);
        }
        if p.streams.is_empty() {
            return Err((at(Field::Streams), format!("phase {:?} has no streams (add a [[phase.stream]])", p.name)));
        }
        for (j, s) in p.streams.iter().enumerate() {
            let at = |f| Site::Stream(i, j, f);
            if s.region >= w.regions.len() {
                return Err((at(Field::Region), format!("stream region {} is out of range", s.region)));
            }
            if s.pattern == Pattern::Stride(0) {
                return Err((at(Field::Pattern), "stride 0 (K must be >= 1)".into()));
            }
            if s.weight == 0 {
                return Err((at(Field::Weight), "weight 0 (it must be >= 1)".into()));
            }
            if s.write_percent > 100 {
                return Err((at(Field::Writes), format!("writes {} is over 100 (a percent)", s.write_percent)));
            }
            if s.process == Process::Child && child.is_none() {
                return Err((
                    at(Field::Process),
                    format!("child stream in phase {:?}, where no child exists (fork first)", p.name),
                ));
            }
        }
        if p.child_exit {
            if child.is_none() {
                return Err((at(Field::ChildExit), format!("child_exit in phase {:?}, where no child exists", p.name)));
            }
            child = None;
        }
    }
    Ok(())
}

/// A TOML string literal.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

impl Workload {
    /// The workload in the file format: [`Workload::parse`] gives it back (for a valid
    /// workload). Defaults are left out.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "name = {}", quote(&self.name));
        for r in &self.regions {
            let _ = write!(
                out,
                "\n[[region]]\nname = {}\npages = {}\ndata = {}\n",
                quote(&r.name),
                r.pages,
                quote(&r.data.to_string())
            );
        }
        for p in &self.phases {
            let _ = write!(
                out,
                "\n[[phase]]\nname = {}\nticks = {}\naccesses_per_tick = {}\n",
                quote(&p.name),
                p.ticks,
                p.accesses_per_tick
            );
            if p.fork {
                out.push_str("fork = true\n");
            }
            if p.child_exit {
                out.push_str("child_exit = true\n");
            }
            for s in &p.streams {
                let region = self.regions.get(s.region).map_or("?", |r| r.name.as_str());
                let _ = write!(
                    out,
                    "[[phase.stream]]\nregion = {}\npattern = {}\n",
                    quote(region),
                    quote(&s.pattern.to_string())
                );
                if s.weight != 1 {
                    let _ = writeln!(out, "weight = {}", s.weight);
                }
                if s.write_percent != 0 {
                    let _ = writeln!(out, "writes = {}", s.write_percent);
                }
                if s.process == Process::Child {
                    out.push_str("process = \"child\"\n");
                }
            }
        }
        out
    }
}
