//! Localized text: every user-facing string has a key in a lab's catalogue
//! (`strings.toml` beside the lab) with English and Simplified Chinese side by side and
//! named placeholders for measured values:
//!
//! ```toml
//! [restart.title]
//! en = "restart after {clients} clients"
//! zh = "服务 {clients} 个客户端后重启"
//! ```
//!
//! A key is the dotted path of a table that holds `en` and `zh`. Chinese is never made
//! from English: both come from the catalogue, and a test checks that both languages
//! exist and use the same placeholders.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static SCRAMBLED: AtomicBool = AtomicBool::new(false);

/// Renames every English text from now on (`true`) or stops (`false`). For tests only:
/// the process-wide switch would confuse any other thread making text at the time.
#[doc(hidden)]
pub fn scramble(on: bool) {
    SCRAMBLED.store(on, Ordering::Relaxed);
}

/// One string in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Text {
    pub en: String,
    pub zh: String,
}

impl Text {
    /// The same text in both languages: a number, an errno name, an address, code.
    pub fn same(s: impl Into<String>) -> Text {
        let s = s.into();
        Text { en: s.clone(), zh: s }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Zh => &self.zh,
        }
    }

    /// Joins texts with a separator per language.
    pub fn join(parts: &[Text], en_sep: &str, zh_sep: &str) -> Text {
        Text {
            en: parts
                .iter()
                .map(|t| t.en.as_str())
                .collect::<Vec<_>>()
                .join(en_sep),
            zh: parts
                .iter()
                .map(|t| t.zh.as_str())
                .collect::<Vec<_>>()
                .join(zh_sep),
        }
    }
}

/// The two languages of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    En,
    Zh,
}

/// A value for a placeholder: the same in both languages, or itself localized.
pub enum Arg<'a> {
    Plain(String),
    Text(&'a Text),
}

impl<'a, T: Display + ?Sized> From<&'a T> for Arg<'a> {
    fn from(v: &'a T) -> Self {
        Arg::Plain(v.to_string())
    }
}

impl<'a> From<&'a Text> for Arg<'a> {
    fn from(v: &'a Text) -> Self {
        Arg::Text(v)
    }
}

/// A lab's strings, parsed from TOML on first use.
pub struct Catalogue {
    pub name: &'static str,
    source: &'static str,
    parsed: OnceLock<Result<BTreeMap<String, Text>, String>>,
}

impl Catalogue {
    pub const fn new(name: &'static str, source: &'static str) -> Self {
        Catalogue {
            name,
            source,
            parsed: OnceLock::new(),
        }
    }

    /// Every entry, or why the file does not parse (the catalogue tests report it).
    pub fn entries(&self) -> Result<&BTreeMap<String, Text>, &str> {
        self.parsed
            .get_or_init(|| parse(self.source))
            .as_ref()
            .map_err(|e| e.as_str())
    }

    /// The text at `key` with its placeholders filled.
    /// (Under [`scramble`], every English text is renamed, for the tests that prove no
    /// result depends on a label.) A missing key reads "⟨name:key⟩"
    /// rather than failing a measured run; the catalogue tests catch it.
    pub fn text(&self, key: &str, args: &[(&str, Arg)]) -> Text {
        let Some(t) = self.entries().ok().and_then(|m| m.get(key)) else {
            debug_assert!(false, "catalogue {} has no key {key}", self.name);
            return Text::same(format!("⟨{}:{key}⟩", self.name));
        };
        let en = fill(&t.en, args, Lang::En);
        let en = if SCRAMBLED.load(Ordering::Relaxed) {
            format!("~{}~", en.to_uppercase())
        } else {
            en
        };
        Text {
            en,
            zh: fill(&t.zh, args, Lang::Zh),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries().is_ok_and(|m| m.contains_key(key))
    }

    /// English texts with two Chinese translations. A table's text cells get their Chinese
    /// by English text (`labels_zh`), so a lab whose tables share labels keeps this empty.
    pub fn clashes(&self) -> Vec<String> {
        let mut seen: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        let mut out = Vec::new();
        for (k, t) in self.entries().into_iter().flatten() {
            if let Some((k0, zh)) = seen.insert(&t.en, (k, &t.zh)) {
                if zh != t.zh {
                    out.push(format!(
                        "{}: {k0} and {k}: {:?} has two Chinese texts",
                        self.name, t.en
                    ));
                }
            }
        }
        out
    }

    /// Problems a test should fail on: a language missing or empty, placeholders that differ.
    pub fn problems(&self) -> Vec<String> {
        let entries = match self.entries() {
            Ok(e) => e,
            Err(e) => return vec![format!("{}: {e}", self.name)],
        };
        let mut out = Vec::new();
        for (k, t) in entries {
            if t.en.trim().is_empty() || t.zh.trim().is_empty() {
                out.push(format!("{}: {k}: a language is empty", self.name));
            }
            let (pe, pz) = (placeholders(&t.en), placeholders(&t.zh));
            if pe != pz {
                out.push(format!(
                    "{}: {k}: placeholders differ: en {pe:?}, zh {pz:?}",
                    self.name
                ));
            }
        }
        out
    }
}

/// `t!(CAT, "key", port = p, ms = elapsed)`: the text at `key` with named values.
#[macro_export]
macro_rules! t {
    ($cat:expr, $key:expr $(, $name:ident = $val:expr)* $(,)?) => {
        $cat.text($key, &[$((stringify!($name), $crate::report::text::Arg::from(&$val))),*])
    };
}

fn parse(source: &str) -> Result<BTreeMap<String, Text>, String> {
    let value: toml::Table = toml::from_str(source).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out)?;
    Ok(out)
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, Text>) -> Result<(), String> {
    if let (Some(en), Some(zh)) = (table.get("en"), table.get("zh")) {
        let (Some(en), Some(zh)) = (en.as_str(), zh.as_str()) else {
            return Err(format!("{prefix}: en and zh must be strings"));
        };
        out.insert(
            prefix.to_string(),
            Text {
                en: en.into(),
                zh: zh.into(),
            },
        );
        return match table.keys().find(|k| *k != "en" && *k != "zh") {
            Some(k) => Err(format!("{prefix}: unexpected key {k} beside en and zh")),
            None => Ok(()),
        };
    }
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v.as_table() {
            Some(t) => flatten(&key, t, out)?,
            None => return Err(format!("{key}: needs both en and zh")),
        }
    }
    Ok(())
}

/// Replaces `{name}` with its value; `{{` and `}}` are literal braces.
/// A placeholder with no value stays as written, so a test can see it.
fn fill(template: &str, args: &[(&str, Arg)], lang: Lang) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let close = tail.find('}').filter(|_| tail.starts_with('{'));
        match close.map(|c| (&tail[1..c], c)) {
            Some((name, c)) if is_name(name) => {
                match args.iter().find(|(n, _)| *n == name) {
                    Some((_, Arg::Plain(v))) => out.push_str(v),
                    Some((_, Arg::Text(t))) => out.push_str(t.get(lang)),
                    None => out.push_str(&tail[..=c]),
                }
                rest = &tail[c + 1..];
            }
            _ => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The placeholder names a template uses.
pub fn placeholders(template: &str) -> BTreeSet<String> {
    let unescaped = template.replace("{{", "").replace("}}", "");
    let mut out = BTreeSet::new();
    let mut rest = unescaped.as_str();
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        if let Some(c) = rest.find('}') {
            if is_name(&rest[..c]) {
                out.insert(rest[..c].to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    static CAT: Catalogue = Catalogue::new(
        "test",
        r#"
[restart.title]
en = "restart after {clients} clients on port {port}"
zh = "在端口 {port} 上服务 {clients} 个客户端后重启"

[fate.phantom]
en = "phantom"
zh = "幽灵连接"

[fate.line]
en = "client {n}: {fate} {{literal}}"
zh = "客户端 {n}：{fate} {{literal}}"
"#,
    );

    #[test]
    fn fills_named_placeholders_in_both_languages() {
        let t = t!(CAT, "restart.title", clients = 3, port = 51423);
        assert_eq!(t.en, "restart after 3 clients on port 51423");
        assert_eq!(t.zh, "在端口 51423 上服务 3 个客户端后重启");
    }

    #[test]
    fn a_text_argument_is_localized_per_language() {
        let fate = t!(CAT, "fate.phantom");
        let t = t!(CAT, "fate.line", n = 4, fate = fate);
        assert_eq!(t.en, "client 4: phantom {literal}");
        assert_eq!(t.zh, "客户端 4：幽灵连接 {literal}");
    }

    #[test]
    fn a_placeholder_without_a_value_stays_visible() {
        let t = CAT.text("restart.title", &[]);
        assert!(t.en.contains("{clients}"), "{}", t.en);
    }

    #[test]
    fn problems_name_a_missing_language_and_differing_placeholders() {
        let bad = Catalogue::new("bad", "[a]\nen = \"{x}\"\nzh = \"{y}\"\n[b]\nen = \"only\"\n");
        assert!(!bad.problems().is_empty());
        let bad2 = Catalogue::new("bad2", "[a]\nen = \"{x}\"\nzh = \"{y}\"\n");
        assert_eq!(bad2.problems().len(), 1, "{:?}", bad2.problems());
        assert!(CAT.problems().is_empty(), "{:?}", CAT.problems());
    }

    #[test]
    fn one_english_text_may_not_have_two_translations() {
        let two = Catalogue::new(
            "two",
            "[a]\nen = \"x\"\nzh = \"一\"\n[b]\nen = \"x\"\nzh = \"二\"\n",
        );
        assert_eq!(two.clashes().len(), 1, "{:?}", two.clashes());
        let same = Catalogue::new(
            "same",
            "[a]\nen = \"x\"\nzh = \"一\"\n[b]\nen = \"x\"\nzh = \"一\"\n",
        );
        assert!(same.clashes().is_empty());
    }

    #[test]
    fn placeholders_ignore_escaped_braces() {
        let p = placeholders("{a} {{b}} {c_1} { d }");
        assert_eq!(p.into_iter().collect::<Vec<_>>(), ["a", "c_1"]);
    }
}
