//! Sheets: the prose half of a page. Each follows the skeleton of labs/README.md:
//! a `# title`, eight `## ` headings in a fixed order, and three markers that
//! `lab docs` replaces with the measured tables, findings and environment.

use super::{Lang, Marker};
use crate::labs::Lab;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// One parsed, checked sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// The `# ` title, without the hashes.
    pub title: String,
    /// The lines after the title line, as written.
    body: Vec<String>,
}

/// A line of the body: prose to copy, or a marker to fill.
pub enum Part<'a> {
    Text(&'a str),
    Marker(Marker),
}

impl Sheet {
    /// Parses and checks a sheet; `name` is how errors refer to the file.
    pub fn parse(name: &str, text: &str, lang: Lang) -> Result<Sheet> {
        let text = text.replace("\r\n", "\n");
        let lines: Vec<&str> = text.lines().collect();
        let outside = outside_fences(&lines);
        let title_at = outside
            .iter()
            .copied()
            .find(|&i| !lines[i].trim().is_empty())
            .ok_or_else(|| anyhow!("{name}: the sheet is empty"))?;
        let title = lines[title_at]
            .strip_prefix("# ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow!("{name}: the first line must be `# <title>`"))?;
        let headings: Vec<(usize, &str)> = outside
            .iter()
            .filter_map(|&i| lines[i].strip_prefix("## ").map(|h| (i, h.trim())))
            .collect();
        check_headings(name, &headings, lang)?;
        for m in Marker::ALL {
            check_marker(name, &lines, &headings, m, lang)?;
        }
        let known: usize = Marker::ALL.len();
        if text.matches(Marker::PREFIX).count() != known {
            bail!(
                "{name}: unknown marker: only {} may appear",
                Marker::ALL.map(Marker::text).join(", ")
            );
        }
        Ok(Sheet {
            title: title.to_string(),
            body: lines[title_at + 1..].iter().map(|l| l.to_string()).collect(),
        })
    }

    /// The body line by line, markers recognised.
    pub fn parts(&self) -> impl Iterator<Item = Part<'_>> {
        self.body
            .iter()
            .map(|l| match Marker::ALL.into_iter().find(|m| l.trim() == m.text()) {
                Some(m) => Part::Marker(m),
                None => Part::Text(l),
            })
    }
}

/// Indices of lines not inside ``` or ~~~ fenced code blocks (so a `## ` in a shell
/// snippet is not taken for a heading).
fn outside_fences(lines: &[&str]) -> Vec<usize> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let opener = ["```", "~~~"].into_iter().find(|f| t.starts_with(f));
        match (fence, opener) {
            (None, Some(f)) => fence = Some(f),
            (Some(open), Some(f)) if open == f => fence = None,
            (None, None) => out.push(i),
            _ => {}
        }
    }
    out
}

fn check_headings(name: &str, found: &[(usize, &str)], lang: Lang) -> Result<()> {
    let want = lang.headings();
    let got: Vec<&str> = found.iter().map(|(_, h)| *h).collect();
    if got != want {
        bail!(
            "{name}: the `## ` headings must be exactly, in order: {}; found: {}",
            want.join(" / "),
            if got.is_empty() {
                "none".into()
            } else {
                got.join(" / ")
            }
        );
    }
    Ok(())
}

fn check_marker(name: &str, lines: &[&str], headings: &[(usize, &str)], m: Marker, lang: Lang) -> Result<()> {
    let section = lang.headings()[m.section()];
    let hits: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(m.text()))
        .collect();
    let &[at] = hits.as_slice() else {
        bail!(
            "{name}: {} appears {} times; it must appear exactly once, under `## {section}`",
            m.text(),
            hits.len()
        );
    };
    if lines[at].trim() != m.text() {
        bail!("{name}: {} must stand alone on its line", m.text());
    }
    let owner = headings.iter().rev().find(|(i, _)| *i < at).map(|(_, h)| *h);
    if owner != Some(section) {
        bail!("{name}: {} must be under `## {section}`", m.text());
    }
    Ok(())
}

fn read(path: &Path, name: &str) -> Result<String> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("missing sheet {name}"),
        r => r.with_context(|| format!("read {name}")),
    }
}

/// Both sheets of every lab, by lab id and language.
#[derive(Debug, Clone, Default)]
pub struct Sheets(BTreeMap<(String, Lang), Sheet>);

impl Sheets {
    /// Reads `<dir>/<id>.md` and `<dir>/zh/<id>.md` for every lab; every problem
    /// (missing file, bad skeleton, marker missing or doubled) is named in one error.
    pub fn load(dir: &Path, labs: &[Lab]) -> Result<Sheets> {
        let mut sheets = Sheets::default();
        let mut problems = Vec::new();
        for lab in labs {
            for lang in Lang::ALL {
                let path = dir.join(format!("{}{}.md", lang.dir(), lab.id));
                let name = path.display().to_string();
                let sheet = read(&path, &name).and_then(|text| Sheet::parse(&name, &text, lang));
                match sheet {
                    Ok(s) => sheets.insert(lab.id, lang, s),
                    Err(e) => problems.push(format!("{e:#}")),
                }
            }
        }
        if !problems.is_empty() {
            bail!(
                "{} (each lab needs labs/<id>.md and labs/zh/<id>.md in the skeleton of labs/README.md)",
                problems.join("; ")
            );
        }
        Ok(sheets)
    }

    pub fn insert(&mut self, id: &str, lang: Lang, sheet: Sheet) {
        self.0.insert((id.to_string(), lang), sheet);
    }

    pub fn get(&self, id: &str, lang: Lang) -> Result<&Sheet> {
        self.0
            .get(&(id.to_string(), lang))
            .ok_or_else(|| anyhow!("no sheet for lab `{id}` ({lang:?})"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::skeleton;
    use super::*;

    fn err(text: &str) -> String {
        format!("{:#}", Sheet::parse("labs/x.md", text, Lang::En).unwrap_err())
    }

    #[test]
    fn the_skeleton_parses_in_both_languages() {
        for lang in Lang::ALL {
            let s = Sheet::parse("x.md", &skeleton(lang, "A title", ""), lang).unwrap();
            assert_eq!(s.title, "A title");
            let markers = s.parts().filter(|p| matches!(p, Part::Marker(_))).count();
            assert_eq!(markers, 3);
        }
    }

    #[test]
    fn a_missing_or_doubled_marker_names_the_file_and_marker() {
        let ok = skeleton(Lang::En, "T", "");
        let e = err(&ok.replace("<!-- lab:findings -->", ""));
        assert!(
            e.contains("labs/x.md") && e.contains("<!-- lab:findings --> appears 0 times"),
            "{e}"
        );
        let e = err(&ok.replace(
            "<!-- lab:tables -->",
            "<!-- lab:tables -->\n\n<!-- lab:tables -->",
        ));
        assert!(e.contains("appears 2 times"), "{e}");
        let e = err(&ok.replace("<!-- lab:tables -->", "see <!-- lab:tables -->"));
        assert!(e.contains("alone on its line"), "{e}");
        let e = err(&ok.replace("Prose of Try it yourself.", "<!-- lab:extra -->"));
        assert!(e.contains("unknown marker"), "{e}");
    }

    #[test]
    fn a_marker_in_the_wrong_section_is_an_error() {
        let ok = skeleton(Lang::En, "T", "");
        let moved = ok
            .replace("<!-- lab:environment -->", "")
            .replace("Prose of Predict first.", "<!-- lab:environment -->");
        assert!(err(&moved).contains("under `## Environment`"));
    }

    #[test]
    fn headings_must_follow_the_skeleton() {
        let ok = skeleton(Lang::En, "T", "");
        let e = err(&ok.replace("## Predict first", "## Guess"));
        assert!(e.contains("Predict first") && e.contains("Guess"), "{e}");
        assert!(err(&ok.replacen("# T", "T", 1)).contains("`# <title>`"));
        // English headings in a Chinese sheet are wrong.
        assert!(Sheet::parse("zh/x.md", &ok, Lang::Zh).is_err());
    }

    #[test]
    fn headings_inside_code_blocks_are_prose() {
        let ok = skeleton(Lang::En, "T", "\n\n```sh\n## not a heading\n```");
        assert!(Sheet::parse("x.md", &ok, Lang::En).is_ok());
    }

    #[test]
    fn load_names_every_missing_sheet() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), skeleton(Lang::En, "A", "")).unwrap();
        let labs = [super::super::tests::lab("a"), super::super::tests::lab("b")];
        let e = format!("{:#}", Sheets::load(dir.path(), &labs).unwrap_err());
        for f in ["zh/a.md", "b.md", "zh/b.md"] {
            assert!(
                e.contains(&format!("missing sheet {}", dir.path().join(f).display())),
                "{e}"
            );
        }
        assert!(
            !e.contains(&format!("{}:", dir.path().join("a.md").display())),
            "{e}"
        );
    }
}
