//! `lab docs` — the generated pages read beside the book: each lab's sheet merged with
//! its measured report (docs/<id>.md, docs/zh/<id>.md), an index, and mdBook's files.
//! The generator itself is in `crate::docs`; this file reads and writes the files.

use crate::docs::{self, Files, Sheets, GENERATED_MARK, REMEASURE};
use crate::labs::LABS;
use crate::report::Report;
use crate::sandbox::Mode;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Write docs/: every lab's sheet merged with its measured tables, in English and Chinese",
    after_help = "Examples:
  lab docs                                measure every lab, write docs/ and docs/results.json
  lab docs --from docs/results.json       rebuild the pages from saved measurements
  lab docs --check                        fail if docs/ is not what docs/results.json gives (CI)
  lab all --format json > r.json && lab docs --from r.json --out /tmp/docs"
)]
pub struct Args {
    /// Directory to write (or to compare with --check).
    #[arg(long, value_name = "DIR", default_value = "docs")]
    pub out: PathBuf,
    /// Use these measurements ({"reports": [...]}, as `lab all --format json` prints) instead of
    /// running the labs. With --check the default is DIR/results.json.
    #[arg(long, value_name = "RESULTS.json")]
    pub from: Option<PathBuf>,
    /// Write nothing; exit 1, naming the command to run, if DIR differs from what the results give.
    #[arg(long)]
    pub check: bool,
    /// Where the sheets are (default: ./labs when present, else the source tree's labs/).
    #[arg(long, value_name = "DIR")]
    pub sheets: Option<PathBuf>,
}

/// Runs `lab docs` and returns the line that says what it did.
pub fn command(args: &Args, mode: Mode) -> Result<String> {
    // Saved results and sheets first: a missing file should not cost a measurement run.
    let saved = saved_results(args)?;
    let sheets = Sheets::load(&sheets_dir(args), LABS)?;
    let (reports, results) = match saved {
        Some(saved) => saved,
        None => {
            let reports = super::run_all(mode, &Default::default(), super::ALL_JOBS)?;
            let text = docs::results_json(&reports)?;
            (reports, text)
        }
    };
    let files = docs::generate(LABS, &reports, &sheets, &results)?;
    warn_missing_zh(&reports);
    if args.check {
        check(args, &files)?;
        Ok(format!(
            "lab docs: {} is up to date ({} files)\n",
            shown(&args.out),
            files.len()
        ))
    } else {
        write(&args.out, &files)?;
        Ok(format!(
            "lab docs: wrote {} files to {}\n",
            files.len(),
            shown(&args.out)
        ))
    }
}

fn sheets_dir(args: &Args) -> PathBuf {
    match &args.sheets {
        Some(d) => d.clone(),
        None if Path::new("labs").is_dir() => PathBuf::from("labs"),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/labs")),
    }
}

/// The reports and the results document's text from --from (or, for --check,
/// DIR/results.json); `None` when the labs are to be measured now.
fn saved_results(args: &Args) -> Result<Option<(Vec<Report>, String)>> {
    let from = args
        .from
        .clone()
        .or_else(|| args.check.then(|| args.out.join("results.json")));
    let Some(path) = from else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && args.from.is_none() => bail!(
            "{} not found, so there is nothing to check against; run: {}",
            path.display(),
            remeasure_command(args)
        ),
        r => r.with_context(|| format!("read {}", path.display()))?,
    };
    let reports = docs::parse_results(&text).with_context(|| format!("read {}", path.display()))?;
    // Tables and findings are made again from the stored data, so a changed string shows.
    let reports = reports
        .iter()
        .map(|r| match crate::labs::find(&r.lab) {
            Some(l) => (l.rebuild)(r),
            None => Ok(r.clone()),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((reports, text)))
}

fn warn_missing_zh(reports: &[Report]) {
    for r in reports {
        let missing = docs::missing_zh(r);
        if !missing.is_empty() {
            eprintln!(
                "lab: warning: docs/zh falls back to English: {}",
                missing.join("; ")
            );
        }
    }
}

/// `docs` shown as `docs/`.
fn shown(dir: &Path) -> String {
    format!("{}/", dir.display().to_string().trim_end_matches('/'))
}

/// Generated pages in DIR and DIR/zh that the current labs no longer produce.
fn stale(dir: &Path, files: &Files) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["", "zh/"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = format!("{sub}{}", e.file_name().to_string_lossy());
            let generated = std::fs::read_to_string(e.path()).is_ok_and(|t| t.starts_with(GENERATED_MARK));
            if name.ends_with(".md") && generated && !files.contains_key(&name) {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

fn write(dir: &Path, files: &Files) -> Result<()> {
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    for name in stale(dir, files) {
        let path = dir.join(name);
        std::fs::remove_file(&path).with_context(|| format!("remove stale {}", path.display()))?;
    }
    Ok(())
}

fn check(args: &Args, files: &Files) -> Result<()> {
    let dir = &args.out;
    let mut differ: Vec<String> = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) if bytes == text.as_bytes() => {}
            Ok(_) => differ.push(path.display().to_string()),
            Err(_) => differ.push(format!("{} (missing)", path.display())),
        }
    }
    for name in stale(dir, files) {
        differ.push(format!("{} (no longer generated)", dir.join(name).display()));
    }
    if !differ.is_empty() {
        bail!(
            "{} is out of date: {}; run: {} (or `{}` to measure again)",
            shown(dir),
            differ.join(", "),
            regenerate_command(args),
            remeasure_command(args)
        );
    }
    Ok(())
}

/// `lab docs` with the options that point at this DIR and these sheets.
fn remeasure_command(args: &Args) -> String {
    let mut cmd = REMEASURE.to_string();
    if args.out != Path::new("docs") {
        cmd.push_str(&format!(" --out {}", args.out.display()));
    }
    if let Some(s) = &args.sheets {
        cmd.push_str(&format!(" --sheets {}", s.display()));
    }
    cmd
}

/// The command that rewrites DIR from the same results the check used.
fn regenerate_command(args: &Args) -> String {
    let from = args.from.clone().unwrap_or_else(|| args.out.join("results.json"));
    format!("{} --from {}", remeasure_command(args), from.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: &str) -> Args {
        Args {
            out: out.into(),
            from: None,
            check: true,
            sheets: None,
        }
    }

    #[test]
    fn commands_name_the_committed_results() {
        assert_eq!(regenerate_command(&args("docs")), docs::REGENERATE);
        assert_eq!(remeasure_command(&args("docs")), "lab docs");
        assert_eq!(
            regenerate_command(&args("/tmp/d")),
            "lab docs --out /tmp/d --from /tmp/d/results.json"
        );
        assert_eq!(shown(Path::new("docs/")), "docs/");
    }
}
