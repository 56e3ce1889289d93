//! Where a serving process's log lines go: into a shared buffer that a background thread
//! writes to stderr every [`FLUSH_EVERY`], or sooner once [`FLUSH_AT`] bytes wait.
//!
//! A line per request is thousands of lines a second. Written straight to stderr each would
//! cost a system call on the request's thread; handed to a writer thread one by one (as
//! `tracing_appender::non_blocking` does), each would wake that thread. Appending to a
//! buffer costs a short lock, and the writer thread wakes ten times a second whatever the
//! load. A line reaches stderr at most [`FLUSH_EVERY`] after it was logged, and everything
//! buffered is written when the process stops ([`LogFlusher`]). Past [`MAX_BUFFERED`] bytes
//! (stderr not being read) new lines are dropped rather than memory growing without bound.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Longest a line waits in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Bytes that wake the writer thread early.
const FLUSH_AT: usize = 256 * 1024;

/// Bytes buffered at most; lines beyond are dropped until the writer catches up.
const MAX_BUFFERED: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    stopping: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves only bytes behind: keep using them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The `MakeWriter` of the log layer: every writer it makes appends to the shared buffer.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<Shared>,
}

/// Writes what is buffered when dropped, then stops the writer thread.
pub struct LogFlusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The writer and its flusher; the thread starts now.
pub fn batched_stderr() -> (BatchedStderr, LogFlusher) {
    let shared = Arc::new(Shared::default());
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("cdp-auth-log".into())
            .spawn(move || write_out(&shared))
            .ok()
    };
    (
        BatchedStderr {
            shared: shared.clone(),
        },
        LogFlusher { shared, thread },
    )
}

/// The writer thread: every [`FLUSH_EVERY`] (or when woken early), takes what is buffered
/// and writes it to stderr outside the lock.
fn write_out(shared: &Shared) {
    let mut taken = Vec::new();
    loop {
        let stopping = {
            let mut state = shared.lock();
            if !state.stopping {
                state = shared
                    .wake
                    .wait_timeout(state, FLUSH_EVERY)
                    .map(|(state, _)| state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            }
            std::mem::swap(&mut state.lines, &mut taken);
            state.stopping
        };
        if !taken.is_empty() {
            let mut stderr = std::io::stderr().lock();
            // Nowhere to report a failing stderr: the lines are lost either way.
            let _ = stderr.write_all(&taken);
            let _ = stderr.flush();
            taken.clear();
        }
        if stopping {
            return;
        }
    }
}

impl Drop for LogFlusher {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl BatchedStderr {
    /// A writer for one line.
    pub fn line(&self) -> BufferedLine<'_> {
        BufferedLine {
            shared: &self.shared,
        }
    }
}

/// One line's writer.
pub struct BufferedLine<'a> {
    shared: &'a Shared,
}

impl Write for BufferedLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut state = self.shared.lock();
        if state.lines.len() + bytes.len() <= MAX_BUFFERED {
            state.lines.extend_from_slice(bytes);
            if state.lines.len() >= FLUSH_AT && state.lines.len() - bytes.len() < FLUSH_AT {
                self.shared.wake.notify_one();
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = BufferedLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BufferedLine {
            shared: &self.shared,
        }
    }
}
