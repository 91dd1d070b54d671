//! OPA's Go engine, loaded from `libopabridge.so`, as the oracle.
//!
//! The library (PyPI package `opa-golib-python-bindings`, OPA v1.20) has a
//! small C interface: `OpaNew` makes an engine handle, `OpaAddPolicy`,
//! `OpaAddData`, `OpaEvalDocument` answer a malloc'd JSON envelope
//! (`{"result": ...}` or `{"error": {"code", "message"}}`) that the caller
//! frees with `OpaFreeString`, and `OpaDestroy` releases the handle. This
//! module is the only unsafe code of the crate: it checks every pointer and
//! frees every string before handing back owned Rust values.
//!
//! The oracle parses Rego v1 only and evaluates with strict builtin errors.
#![allow(
    unsafe_code,
    reason = "calling OPA's engine through its C interface needs FFI"
)]

use std::{
    ffi::{CStr, CString, c_char, c_int},
    path::{Path, PathBuf},
};

use libloading::{Library, Symbol};

/// Why the oracle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// The library is missing or is not OPA's bridge.
    #[error("cannot load OPA's engine from `{}`: {reason}", path.display())]
    Load {
        /// Where it was looked for.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// A string with a NUL byte cannot cross the C interface.
    #[error("argument contains a NUL byte")]
    Nul,
    /// The library answered something that is not its JSON envelope.
    #[error("malformed answer from OPA: {0}")]
    Envelope(String),
}

/// An error OPA reported, with its code (`parse_error`, `eval_error`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaFailure {
    /// The bridge's error code.
    pub code: String,
    /// OPA's message, which names the topdown or compiler error code.
    pub message: String,
}

type NewFn = unsafe extern "C" fn() -> u64;
type DestroyFn = unsafe extern "C" fn(u64);
type FreeFn = unsafe extern "C" fn(*mut c_char);
type AddFn = unsafe extern "C" fn(u64, *const c_char, *const c_char) -> *mut c_char;
type EvalFn = unsafe extern "C" fn(u64, *const c_char, *const c_char, c_int, c_int) -> *mut c_char;

/// The loaded library.
#[derive(Debug)]
pub struct Oracle {
    library: Library,
    path: PathBuf,
}

/// Where the library is: `PDP_OPA_LIB`, else `.tools/lib/libopabridge.so`
/// in the workspace (installed by `scripts/setup`).
pub fn default_path() -> PathBuf {
    match std::env::var_os("PDP_OPA_LIB") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/lib/libopabridge.so"),
    }
}

impl Oracle {
    /// Loads the library at `path` and checks that it has every symbol.
    pub fn load(path: &Path) -> Result<Self, OracleError> {
        let load_err = |reason: String| OracleError::Load {
            path: path.to_owned(),
            reason,
        };
        if !path.exists() {
            return Err(load_err("no such file (run scripts/setup)".into()));
        }
        // SAFETY: loading runs the library's initialisers; the bridge is a Go
        // c-shared library whose initialisers only start the Go runtime.
        let library = unsafe { Library::new(path) }.map_err(|e| load_err(e.to_string()))?;
        let oracle = Self {
            library,
            path: path.to_owned(),
        };
        for name in [
            "OpaNew",
            "OpaDestroy",
            "OpaFreeString",
            "OpaAddPolicy",
            "OpaAddData",
            "OpaEvalDocument",
        ] {
            // SAFETY: only the symbol's presence is checked; it is not called.
            unsafe { oracle.library.get::<*const ()>(name.as_bytes()) }
                .map_err(|e| load_err(format!("missing `{name}`: {e}")))?;
        }
        Ok(oracle)
    }

    /// Where it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh engine with no policies and no data.
    pub fn engine(&self) -> Result<Engine<'_>, OracleError> {
        // SAFETY: `OpaNew` takes no argument and returns a handle.
        let handle = unsafe { self.symbol::<NewFn>("OpaNew")?() };
        Ok(Engine {
            oracle: self,
            handle,
        })
    }

    fn symbol<T>(&self, name: &str) -> Result<Symbol<'_, T>, OracleError> {
        // SAFETY: every symbol is declared with the C signature the bridge's
        // own Python binding declares for it.
        unsafe { self.library.get::<T>(name.as_bytes()) }.map_err(|e| OracleError::Load {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// Copies and frees one answer of the bridge.
    fn take_string(&self, ptr: *mut c_char) -> Result<String, OracleError> {
        if ptr.is_null() {
            return Err(OracleError::Envelope("null answer".into()));
        }
        // SAFETY: the bridge returns a NUL-terminated malloc'd string that
        // stays valid until `OpaFreeString`, which is called right after.
        let text = unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned();
        let free = self.symbol::<FreeFn>("OpaFreeString")?;
        // SAFETY: `ptr` came from the bridge and is freed exactly once.
        unsafe { free(ptr) };
        Ok(text)
    }
}

/// One engine handle; destroyed when dropped.
#[derive(Debug)]
pub struct Engine<'a> {
    oracle: &'a Oracle,
    handle: u64,
}

fn cstring(text: &str) -> Result<CString, OracleError> {
    CString::new(text).map_err(|_| OracleError::Nul)
}

impl Engine<'_> {
    /// Adds a module (`path` is its file name in messages).
    pub fn add_policy(
        &mut self,
        path: &str,
        source: &str,
    ) -> Result<Result<(), OpaFailure>, OracleError> {
        let (path, source) = (cstring(path)?, cstring(source)?);
        let add = self.oracle.symbol::<AddFn>("OpaAddPolicy")?;
        // SAFETY: both pointers are valid NUL-terminated strings for the call.
        let answer = unsafe { add(self.handle, path.as_ptr(), source.as_ptr()) };
        self.envelope(answer).map(|r| r.map(|_| ()))
    }

    /// Deep-merges a JSON document at the root of `data`.
    pub fn add_data(&mut self, json: &str) -> Result<Result<(), OpaFailure>, OracleError> {
        let (path, json) = (cstring("")?, cstring(json)?);
        let add = self.oracle.symbol::<AddFn>("OpaAddData")?;
        // SAFETY: both pointers are valid NUL-terminated strings for the call.
        let answer = unsafe { add(self.handle, path.as_ptr(), json.as_ptr()) };
        self.envelope(answer).map(|r| r.map(|_| ()))
    }

    /// Evaluates `data.<path>` (dotted) with `input` (JSON text, or none).
    /// `Ok(Ok(None))` is undefined; otherwise the value as raw JSON text.
    pub fn eval_document(
        &mut self,
        path: &str,
        input: Option<&str>,
    ) -> Result<Result<Option<String>, OpaFailure>, OracleError> {
        let path = cstring(path)?;
        let input = cstring(input.unwrap_or(""))?;
        let eval = self.oracle.symbol::<EvalFn>("OpaEvalDocument")?;
        // SAFETY: both pointers are valid NUL-terminated strings for the call.
        let answer = unsafe { eval(self.handle, path.as_ptr(), input.as_ptr(), 0, 0) };
        let result = match self.envelope(answer)? {
            Ok(result) => result,
            Err(failure) => return Ok(Err(failure)),
        };
        // The value is `result[0].expressions[0].value`, kept as raw text so
        // that numbers keep every digit.
        Ok(Ok(result.and_then(|raw| {
            crate::exact::first_expression_value(&raw)
        })))
    }

    /// Reads an envelope: the raw text of `result`, or OPA's error.
    fn envelope(
        &self,
        answer: *mut c_char,
    ) -> Result<Result<Option<String>, OpaFailure>, OracleError> {
        let text = self.oracle.take_string(answer)?;
        let envelope = crate::exact::parse(&text).map_err(OracleError::Envelope)?;
        if let Some(error) = envelope.get("error").filter(|e| !e.is_null()) {
            let field = |name: &str| {
                error
                    .get(name)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            return Ok(Err(OpaFailure {
                code: field("code"),
                message: field("message"),
            }));
        }
        Ok(Ok(envelope
            .get("result")
            .filter(|r| !r.is_null())
            .map(|r| r.to_json())))
    }
}

impl Drop for Engine<'_> {
    fn drop(&mut self) {
        if let Ok(destroy) = self.oracle.symbol::<DestroyFn>("OpaDestroy") {
            // SAFETY: the handle came from `OpaNew` and is destroyed once.
            unsafe { destroy(self.handle) };
        }
    }
}
