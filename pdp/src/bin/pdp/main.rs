//! The `pdp` command: `pdp serve` runs the service, `pdp check` compiles
//! bundles offline. Argument handling lives in [`cli`]; everything else is
//! the library's.

mod check;
mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
