use std::process::ExitCode;

fn main() -> ExitCode {
    partnergraph::cli::main()
}
