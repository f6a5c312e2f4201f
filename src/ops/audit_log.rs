//! The audit file (`[audit] path`, issue #16): one JSON object per line, a write's `decision`
//! written and synced to disk before the write is sent, its `outcome` after, every denial, and every
//! token handed to git (`git_credential`, before it is handed).
//!
//! Owns: the file (opened for appending, created `0600` with its directory synced; reopened on
//! `SIGHUP` for logrotate, and after a failed write), the records' shape, and writing whole lines
//! under one lock. Denials are not synced one by one: they wait in a bounded buffer written with the
//! next decision or by the once-a-second flush (`service`), so a flood of refused requests costs no
//! disk syncs and cannot delay a write's decision; past [`MAX_PENDING`] between two flushes they are
//! counted in one `denials_dropped` record.
//! Must never: let a write be sent whose decision was not written and synced (the caller answers
//! 503); write a token, a key or a body value — records carry names and codes only.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit file `{path}` could not be opened: {reason}")]
    Open { path: String, reason: String },
    #[error("the audit record could not be written to `{path}`: {reason}")]
    Write { path: String, reason: String },
}

/// Who a write or denial is by: an agent, or (passthrough) the GitHub login behind the client's
/// token, or nobody known (a refusal before any credential was judged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    Agent(String),
    Login(String),
    Unknown,
}

impl Who {
    /// As the log's `audit` line names a writer: `agent:<id>`, or the login.
    pub fn log_name(&self) -> String {
        match self {
            Who::Agent(id) => format!("agent:{id}"),
            Who::Login(login) => login.clone(),
            Who::Unknown => "unknown".to_string(),
        }
    }
}

/// A write about to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Ties the decision to its outcome.
    pub request: String,
    pub who: Who,
    pub method: String,
    pub path: String,
    /// A mutation's operation name and root fields (`addComment`), and its variables' names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql_operation: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mutation_fields: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<String>,
    /// `owner/name`; `owner/*` for an agent's mutation (its token reaches its repositories there).
    pub repository: Option<String>,
    /// The App installation a brokered write's token was minted on.
    pub installation: Option<u64>,
    /// The names of a REST body's top-level fields (`None`: no JSON object, or not read).
    pub body_fields: Option<Vec<String>>,
}

/// What came of a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub request: String,
    /// The status the client got (0: none, the connection failed).
    pub status: u16,
    pub github_request_id: Option<String>,
    pub duration_ms: u64,
}

/// A token handed to git for one repository (`GET /git-credential`): recorded before it is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitCredential {
    pub who: Who,
    pub repository: String,
    pub installation: u64,
    /// `read` or `write`.
    pub contents: String,
    pub expires_at: String,
}

/// A request refused: by whom, what, why (the refusal's code: its message may quote the request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    pub who: Who,
    pub method: String,
    /// Without its query.
    pub path: String,
    pub status: u16,
    pub reason: &'static str,
}

/// Denials held back between two flushes, at most.
pub const MAX_PENDING: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Decision(Decision),
    Outcome(Outcome),
    Denial(Denial),
    GitCredential(GitCredential),
    /// Denials beyond [`MAX_PENDING`] between two flushes, not written one by one.
    DenialsDropped {
        count: u64,
    },
}

/// One line: the record with its time first.
pub fn line(record: &Record, at: SystemTime) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        time: String,
        #[serde(flatten)]
        record: &'a Record,
    }
    let time = humantime::format_rfc3339_millis(at).to_string();
    let text = serde_json::to_string(&Line { time, record }).unwrap_or_else(|_| "{}".to_string());
    // Paths, names and messages are the client's: one may carry a token or a key.
    let mut text = crate::secrets::redact_token_shapes(&text).into_owned();
    text.push('\n');
    text
}

enum Sink {
    Stdout,
    Path(String),
}

/// The open file, and whether the last write to it failed part-way (the next starts a new line).
#[derive(Default)]
struct Open {
    file: Option<File>,
    torn: bool,
}

pub struct AuditLog {
    sink: Sink,
    file: Mutex<Open>,
    /// Denial lines waiting for the next write or flush, and how many did not fit.
    pending: Mutex<Vec<String>>,
    dropped: AtomicU64,
    /// `<start time>-<n>`: unique per process, ordered.
    prefix: String,
    next: AtomicU64,
}

impl AuditLog {
    /// The audit file at `path` (`-`: standard output). A file that cannot be opened now is
    /// reported and tried again on the first write (which fails closed until it opens).
    pub fn new(path: &str) -> Arc<AuditLog> {
        let sink = if path == "-" { Sink::Stdout } else { Sink::Path(path.to_string()) };
        let started = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let log = AuditLog {
            sink,
            file: Mutex::new(Open::default()),
            pending: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            prefix: format!("{started:x}.{:x}", std::process::id()),
            next: AtomicU64::new(1),
        };
        if let Err(e) = log.reopen() {
            log::error!("{e}; writes are refused (503) until it can be written");
        }
        Arc::new(log)
    }

    pub fn describe(&self) -> &str {
        match &self.sink {
            Sink::Stdout => "standard output",
            Sink::Path(path) => path,
        }
    }

    /// A new request id for a decision and its outcome.
    pub fn request_id(&self) -> String {
        format!("{}-{}", self.prefix, self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Open the file again (after logrotate moved it: `SIGHUP`).
    pub fn reopen(&self) -> Result<(), AuditError> {
        let Sink::Path(path) = &self.sink else { return Ok(()) };
        let opened = open(path);
        let mut state = self.file.lock().unwrap_or_else(|p| p.into_inner());
        match opened {
            Ok(opened) => {
                state.file = Some(opened);
                Ok(())
            }
            Err(e) => {
                state.file = None;
                Err(e)
            }
        }
    }

    /// Write one record and sync it to disk before returning (off the async runtime's threads),
    /// with the denials waiting before it.
    pub async fn write(self: &Arc<Self>, record: Record) -> Result<(), AuditError> {
        let log = self.clone();
        let text = line(&record, SystemTime::now());
        match tokio::task::spawn_blocking(move || log.write_now(Some(text.as_bytes()))).await {
            Ok(written) => written,
            Err(e) => Err(AuditError::Write { path: self.describe().to_string(), reason: e.to_string() }),
        }
    }

    /// Keep a denial for the next write or flush: no I/O here, nothing a refused request can make
    /// a write wait for.
    pub fn note(&self, record: Record) {
        let text = line(&record, SystemTime::now());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() < MAX_PENDING {
            pending.push(text);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Write the denials waiting (every second, from `service`).
    pub async fn flush(self: &Arc<Self>) {
        let waiting = !self.pending.lock().unwrap_or_else(|p| p.into_inner()).is_empty();
        if !waiting && self.dropped.load(Ordering::Relaxed) == 0 {
            return;
        }
        let log = self.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || log.write_now(None)).await {
            log::warn!("{e} (denials)");
        }
    }

    /// The waiting denials (and a count of those dropped), then `text` if any, as one write; synced
    /// when there is `text` (a decision or a credential).
    fn write_now(&self, text: Option<&[u8]>) -> Result<(), AuditError> {
        let waiting = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut out = waiting.concat().into_bytes();
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            out.extend(line(&Record::DenialsDropped { count: dropped }, SystemTime::now()).into_bytes());
        }
        out.extend_from_slice(text.unwrap_or_default());
        let path = match &self.sink {
            Sink::Stdout => {
                let mut stdout = std::io::stdout().lock();
                return stdout
                    .write_all(&out)
                    .and_then(|_| stdout.flush())
                    .map_err(|e| AuditError::Write { path: "-".into(), reason: e.to_string() });
            }
            Sink::Path(path) => path,
        };
        let mut state = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if state.file.is_none() {
            state.file = Some(open(path)?);
        }
        if std::mem::take(&mut state.torn) {
            // The last write failed part-way: its partial line ends here, unreadable alone.
            out.insert(0, b'\n');
        }
        let Some(file) = state.file.as_mut() else {
            return Err(AuditError::Open { path: path.clone(), reason: "closed".into() });
        };
        let written = file.write_all(&out).and_then(|_| if text.is_some() { file.sync_data() } else { Ok(()) });
        written.map_err(|e| {
            // Opened again on the next write: a full disk may have room by then.
            *state = Open { file: None, torn: true };
            AuditError::Write { path: path.clone(), reason: e.to_string() }
        })
    }
}

/// Open for appending (created `0600`), and sync the directory so that a file just created
/// survives a crash with the records synced into it.
fn open(path: &str) -> Result<File, AuditError> {
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |e: std::io::Error| AuditError::Open { path: path.to_string(), reason: e.to_string() };
    let file = OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(failed)?;
    let dir = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty());
    File::open(dir.unwrap_or(std::path::Path::new("."))).and_then(|d| d.sync_all()).map_err(failed)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_line_names_who_what_and_where_never_a_value() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let decision = Record::Decision(Decision {
            request: "r-1".into(),
            who: Who::Agent("triage".into()),
            method: "POST".into(),
            path: "/repos/acme/widgets/issues".into(),
            graphql_operation: None,
            mutation_fields: vec![],
            variables: vec![],
            repository: Some("acme/widgets".into()),
            installation: Some(7),
            body_fields: Some(vec!["title".into(), "body".into()]),
        });
        assert_eq!(
            line(&decision, at),
            "{\"time\":\"2023-11-14T22:13:20.000Z\",\"record\":\"decision\",\"request\":\"r-1\",\"who\":{\"agent\":\"triage\"},\
             \"method\":\"POST\",\"path\":\"/repos/acme/widgets/issues\",\"repository\":\"acme/widgets\",\"installation\":7,\
             \"body_fields\":[\"title\",\"body\"]}\n"
        );
        let outcome = Record::Outcome(Outcome {
            request: "r-1".into(),
            status: 201,
            github_request_id: Some("AB:12".into()),
            duration_ms: 42,
        });
        assert!(line(&outcome, at).contains("\"record\":\"outcome\",\"request\":\"r-1\",\"status\":201"));
        let denial = Record::Denial(Denial {
            who: Who::Unknown,
            method: "GET".into(),
            path: "/repos/ghpk_someKEY/x".into(),
            status: 401,
            reason: "no_agent_key",
        });
        assert!(line(&denial, at).contains("\"path\":\"/repos/ghpk_<redacted>/x\""), "{}", line(&denial, at));
    }

    #[test]
    fn a_record_is_on_disk_when_write_returns_and_a_failure_is_an_error() {
        let dir = std::env::temp_dir().join(format!("ghpool-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let log = AuditLog::new(path.to_str().unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let denial = Record::Denial(Denial {
            who: Who::Unknown,
            method: "POST".into(),
            path: "/x".into(),
            status: 401,
            reason: "no_agent_key",
        });
        runtime.block_on(log.write(denial.clone())).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"record\":\"denial\""));
        // Denials wait for the next write (a flood of them syncs nothing, and past the bound they are
        // counted, not kept).
        for _ in 0..MAX_PENDING + 5 {
            log.note(denial.clone());
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1, "noted, not written");
        runtime.block_on(log.write(denial.clone())).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1 + MAX_PENDING + 1 + 1);
        assert!(text.contains("\"record\":\"denials_dropped\",\"count\":5"), "{text}");
        log.note(denial.clone());
        runtime.block_on(log.flush());
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), MAX_PENDING + 4, "flushed");
        // logrotate moves the file; SIGHUP reopens: the next record is in the new one.
        std::fs::rename(&path, dir.join("audit.jsonl.1")).unwrap();
        log.reopen().unwrap();
        runtime.block_on(log.write(denial.clone())).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        // A device that takes nothing: the write fails, and says so.
        let full = AuditLog::new("/dev/full");
        assert!(matches!(runtime.block_on(full.write(denial.clone())), Err(AuditError::Write { .. })));
        // A path that cannot be opened (a directory).
        let unopenable = AuditLog::new(dir.to_str().unwrap());
        assert!(matches!(runtime.block_on(unopenable.write(denial)), Err(AuditError::Open { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
