use clap::Parser;
use recon::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    recon::output::init_logging(cli.verbose, cli.quiet);
    match recon::commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let code = recon::commands::exit_code(&error);
            eprintln!("recon: error: {}", recon::output::describe(&error));
            ExitCode::from(code)
        }
    }
}
