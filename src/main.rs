//! The `cdp-auth` binary: everything lives in the library; this only runs the CLI.

fn main() -> std::process::ExitCode {
    cdp_auth::cli::main()
}
