use recon::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::from_args();
    recon::output::init_logging(cli.verbose, cli.quiet);
    let code = match recon::commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("recon: error: {}", recon::output::describe(&error));
            recon::commands::exit_code(&error)
        }
    };
    if let Some(e) = recon::output::stdout_error() {
        eprintln!("recon: error: writing the output failed: {e}");
        return ExitCode::from(code.max(recon::commands::EXIT_RUN_ERROR));
    }
    ExitCode::from(code)
}
