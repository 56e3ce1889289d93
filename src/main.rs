//! The `cdp-auth` binary: everything lives in the library; this only runs the CLI.

/// mimalloc instead of the system allocator: a request allocates and frees dozens of small
/// buffers (headers, JSON, form fields) across worker threads, which glibc's malloc serves
/// with more locking and fragmentation; `scripts/bench` measured the difference.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cdp_auth::cli::main()
}
