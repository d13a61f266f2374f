//! Progress on a terminal: an indicatif bar fed by vmdp-core's progress events,
//! and nothing at all when stderr is not a TTY (piped, CI, `--json`, `--quiet`).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use vmdp_core::{Progress, ProgressSink, SharedProgress};

/// Counters shown on the bar and summarised when the operation ends.
#[derive(Debug, Default)]
pub struct Counters {
    /// Files finished.
    pub files: AtomicU64,
    /// Files reused from the previous backup without reading them.
    pub cached_files: AtomicU64,
    /// Bytes read/hashed (backup), written (restore) or checked (verify).
    pub bytes: AtomicU64,
    /// Bytes sent to the server.
    pub uploaded: AtomicU64,
    /// Entries that failed.
    pub errors: AtomicU64,
}

/// A progress sink drawing a bar on stderr.
pub struct TerminalProgress {
    bar: ProgressBar,
    counters: Arc<Counters>,
    verb: &'static str,
}

impl TerminalProgress {
    fn refresh(&self) {
        let c = &self.counters;
        let mut msg = format!(
            "{} files, {} {}",
            c.files.load(Ordering::Relaxed),
            HumanBytes(c.bytes.load(Ordering::Relaxed)),
            self.verb
        );
        let uploaded = c.uploaded.load(Ordering::Relaxed);
        if uploaded > 0 {
            msg.push_str(&format!(", {} uploaded", HumanBytes(uploaded)));
        }
        let errors = c.errors.load(Ordering::Relaxed);
        if errors > 0 {
            msg.push_str(&format!(", {errors} errors"));
        }
        self.bar.set_message(msg);
    }
}

impl ProgressSink for TerminalProgress {
    fn report(&self, event: Progress<'_>) {
        count(&self.counters, &event);
        match event {
            Progress::Directory { .. } => return,
            Progress::Estimate { bytes, .. } => {
                self.bar.set_length(bytes);
                self.bar.set_style(bar_style());
            }
            Progress::Error { path, message, .. } => {
                self.bar
                    .println(format!("error: {}: {message}", path.display()));
            }
            Progress::FileDone { .. }
            | Progress::BytesProcessed(_)
            | Progress::BytesUploaded(_) => {}
        }
        self.bar
            .set_position(self.counters.bytes.load(Ordering::Relaxed));
        self.refresh();
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A progress sink for one operation (`verb` as in "1.2 GiB hashed"), or a
/// silent one when `quiet` or stderr is not a terminal, plus its counters.
pub fn for_operation(quiet: bool, verb: &'static str) -> (SharedProgress, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    if quiet || !std::io::stderr().is_terminal() {
        let c = counters.clone();
        let sink = move |event: Progress<'_>| count(&c, &event);
        return (Arc::new(sink), counters);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let sink = TerminalProgress {
        bar,
        counters: counters.clone(),
        verb,
    };
    (Arc::new(sink), counters)
}

/// Adds one event to the counters (files reused from an earlier backup count
/// their bytes as done).
fn count(c: &Counters, event: &Progress<'_>) {
    match event {
        Progress::FileDone { cached, bytes, .. } => {
            c.files.fetch_add(1, Ordering::Relaxed);
            if *cached {
                c.cached_files.fetch_add(1, Ordering::Relaxed);
                c.bytes.fetch_add(*bytes, Ordering::Relaxed);
            }
        }
        Progress::BytesProcessed(n) => {
            c.bytes.fetch_add(*n, Ordering::Relaxed);
        }
        Progress::BytesUploaded(n) => {
            c.uploaded.fetch_add(*n, Ordering::Relaxed);
        }
        Progress::Error { .. } => {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        Progress::Directory { .. } | Progress::Estimate { .. } => {}
    }
}
