//! The curated corpus' file format (`conformance/cases/*.toml`).
//!
//! ```toml
//! data = '{"roles": {"admin": ["alice"]}}'   # optional, JSON, for every case
//! data_file = "../fixtures/jose.json"        # optional, JSON file instead
//!
//! [[case]]
//! name = "rules/default-applies"             # category/name, unique
//! query = "data.test.allow"                  # a rule (or document) under data
//! modules = ['''
//! package test
//! default allow := false
//! ''']
//! input = '{"user": "alice"}'                # optional, JSON
//! data = '{}'                                # optional, JSON, replaces the file's
//! v0 = true                                  # optional: modules are Rego v0 ...
//! v1_modules = ['...']                       # ... and this is their v1 form for OPA
//! non_strict = 'undefined'                   # expected answer when OPA reports a
//!                                            # builtin error (JSON, or `undefined`)
//! ```
//!
//! Unknown keys are refused, so a typo cannot silently disable a check.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One file of cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// Data shared by the file's cases (JSON text).
    #[serde(default)]
    pub data: Option<String>,
    /// A JSON file with the shared data, relative to this file.
    #[serde(default)]
    pub data_file: Option<PathBuf>,
    /// The cases.
    #[serde(default, rename = "case")]
    pub cases: Vec<Case>,
}

/// One differential case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// `category/name`.
    pub name: String,
    /// The document evaluated, `data.<path>`.
    pub query: String,
    /// Rego modules.
    pub modules: Vec<String>,
    /// The input document (JSON text).
    #[serde(default)]
    pub input: Option<String>,
    /// The data document (JSON text); replaces the file's.
    #[serde(default)]
    pub data: Option<String>,
    /// The modules are Rego v0 (our side only).
    #[serde(default)]
    pub v0: bool,
    /// The v1 form of v0 modules, evaluated by OPA.
    #[serde(default)]
    pub v1_modules: Option<Vec<String>>,
    /// The non-strict answer expected where OPA reports a builtin error.
    #[serde(default)]
    pub non_strict: Option<String>,
}

impl Case {
    /// The category: the part of the name before the first `/`.
    pub fn category(&self) -> &str {
        self.name.split('/').next().unwrap_or(&self.name)
    }
}

/// Why the corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file does not follow the format.
    #[error("`{}`: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Reads every `*.toml` under `dir`, sorted by name; fills in shared data.
pub fn load_corpus(dir: &Path) -> Result<Vec<Case>, CorpusError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CorpusError::Io { path, source }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();

    let mut cases = Vec::new();
    let mut names = std::collections::HashSet::new();
    for path in files {
        let format = |reason: String| CorpusError::Format {
            path: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let file: CaseFile = toml::from_str(&text).map_err(|e| format(e.to_string()))?;
        let shared = match (&file.data, &file.data_file) {
            (Some(data), None) => Some(data.clone()),
            (None, Some(rel)) => {
                let full = path.parent().unwrap_or(dir).join(rel);
                Some(std::fs::read_to_string(&full).map_err(io(&full))?)
            }
            (None, None) => None,
            (Some(_), Some(_)) => return Err(format("both `data` and `data_file`".into())),
        };
        for mut case in file.cases {
            if !names.insert(case.name.clone()) {
                return Err(format(format!("duplicate case name `{}`", case.name)));
            }
            if case.v0 && case.v1_modules.is_none() {
                return Err(format(format!(
                    "`{}`: a v0 case needs `v1_modules`",
                    case.name
                )));
            }
            if case.data.is_none() {
                case.data.clone_from(&shared);
            }
            cases.push(case);
        }
    }
    Ok(cases)
}
