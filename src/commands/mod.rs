//! One file per command: orchestration and printing only. `run` dispatches; `exit_code`
//! maps an error to the documented exit codes.

pub mod audit;
mod check;
mod companies;
mod connect;
#[cfg(feature = "sandbox")]
pub mod demo;
mod disconnect;
mod history;
pub mod init;
mod man;
mod map;
mod products;
mod report;
mod review;
#[cfg(feature = "sandbox")]
mod sandbox;
mod status;
mod sync;
mod undo;

use crate::cli::{Cli, Command, MapCommand};
use crate::config::{self, Config};
use crate::config_file::ConfigError;
use crate::http::Http;
use crate::output::wording::Wording;
use crate::psa::Psa;
use crate::store::Store;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use std::io::IsTerminal;
use std::path::PathBuf;

pub const EXIT_OK: u8 = 0;
pub const EXIT_RUN_ERROR: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_LOCKED: u8 = 3;
pub const EXIT_HELD: u8 = 4;

/// Bad usage: a reference that resolves to nothing, a vendor not in the config, ... (exit 2)
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(crate::store::LockError::Held { .. }) = cause.downcast_ref() {
            return EXIT_LOCKED;
        }
        if cause.is::<UsageError>() || cause.is::<ConfigError>() {
            return EXIT_USAGE;
        }
    }
    EXIT_RUN_ERROR
}

/// What every command gets: resolved paths, output choices and the clock, read once.
pub struct Context {
    pub config_path: PathBuf,
    pub db_override: Option<PathBuf>,
    pub json: bool,
    pub quiet: bool,
    pub progress: bool,
    /// Whether a person can answer a prompt.
    pub interactive: bool,
    pub now: DateTime<Utc>,
}

impl Context {
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Context> {
        let env = |name: &str| std::env::var(name).ok();
        let config_path = match &cli.config {
            Some(p) => p.clone(),
            None => config::default_config_path(&env)
                .ok_or_else(|| usage("no config path: pass --config, set RECON_CONFIG, or set HOME"))?,
        };
        Ok(Context {
            config_path,
            db_override: cli.db.clone(),
            json: cli.json,
            quiet: cli.quiet,
            progress: !cli.no_progress && !cli.quiet && !cli.json,
            interactive: std::io::stdin().is_terminal(),
            now: Utc::now(),
        })
    }

    pub fn today(&self) -> chrono::NaiveDate {
        self.now.date_naive()
    }

    pub fn config(&self) -> anyhow::Result<Config> {
        let config = Config::load(&self.config_path)?;
        for warning in &config.warnings {
            crate::output::warn(self.quiet, warning);
        }
        Ok(config)
    }

    /// `--db`/`RECON_DB`, else `[database] path`, else the XDG data dir.
    pub fn db_path(&self, config: Option<&Config>) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.db_override {
            return Ok(p.clone());
        }
        if let Some(p) = config.and_then(|c| c.database_path.clone()) {
            return Ok(p);
        }
        config::default_db_path(&|name| std::env::var(name).ok())
            .ok_or_else(|| usage("no database path: pass --db, set RECON_DB, or set HOME"))
    }

    pub fn store(&self, config: Option<&Config>) -> anyhow::Result<Store> {
        let path = self.db_path(config)?;
        Store::open(&path).with_context(|| format!("opening the database {}", path.display()))
    }

    /// The store to read, for commands that only look (status, history, review, report):
    /// before the first `connect` there is no database, and looking must not create one, so
    /// they read an empty one in memory.
    pub fn store_to_read(&self, config: Option<&Config>) -> anyhow::Result<Store> {
        let path = self.db_path(config)?;
        if path.exists() {
            return self.store(config);
        }
        Ok(Store::open_in_memory()?)
    }

    /// The store, with this process holding the database's run lock until the `Lock` drops.
    pub fn locked_store(
        &self,
        config: &Config,
        command: &str,
    ) -> anyhow::Result<(Store, crate::store::Lock)> {
        let path = self.db_path(Some(config))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let lock = crate::store::Lock::acquire(&path, command, self.now)?;
        Ok((self.store(Some(config))?, lock))
    }

    /// The HTTP client, counting the requests of services with an hourly budget in the
    /// database (when there is one), so the budget holds across recon processes.
    pub fn http(&self, config: &Config) -> anyhow::Result<Http> {
        let http = Http::new(config.http)?;
        let path = self.db_path(Some(config))?;
        if !path.exists() {
            return Ok(http);
        }
        Ok(match self.store(Some(config))?.request_log()? {
            Some(log) => http.with_hour_log(std::sync::Arc::new(log)),
            None => http,
        })
    }

    pub fn warn(&self, message: &str) {
        crate::output::warn(self.quiet, message);
    }

    /// A failure that makes the run exit non-zero: shown even with `-q`, so cron mail always
    /// says why.
    pub fn failure(&self, message: &str) {
        crate::output::failure(message);
    }

    /// How the write path spreads and shows its work.
    pub fn apply_options(&self, config: &Config) -> crate::apply::Options {
        crate::apply::Options {
            workers: config.http.workers,
            progress: self.progress,
            max_attempts: config.http.max_attempts,
        }
    }
}

/// Ask a yes/no question on stderr and read the answer from stdin; only "y" or "yes" is yes.
/// Whether to go ahead with something destructive (`doing`, as a phrase: "disconnecting
/// nodeware"): `--yes` says so; on a terminal a person is asked `question`; without one (a
/// script, cron) nobody can answer, so it is a usage error and nothing changes.
pub fn confirm(ctx: &Context, yes: bool, doing: &str, question: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !ctx.interactive {
        return Err(usage(format!(
            "nothing changed: {doing} needs a yes and there is no terminal to ask on; pass --yes to go ahead"
        )));
    }
    ask(question)
}

pub fn ask(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, Write};
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Connect to the config's PSA with its credentials.
pub fn psa<'h>(config: &Config, http: &'h Http) -> anyhow::Result<Box<dyn Psa + 'h>> {
    Ok(config.psa()?.settings.connect(http)?)
}

/// Before a run that writes reads anything: settle the runs a killed process left, if any
/// (`apply::settle_interrupted`), saying what it finds. A write still in flight is awaited
/// for as long as a request may take (`[http] timeout_seconds`).
pub fn settle_interrupted(
    ctx: &Context,
    config: &Config,
    store: &mut Store,
    psa: &dyn Psa,
) -> anyhow::Result<()> {
    let in_flight_for = std::time::Duration::from_secs(config.http.timeout_secs);
    crate::apply::settle_interrupted(psa, store, in_flight_for, &|m| ctx.warn(m))
}

/// The operations say what they meet on the command's stderr.
impl crate::ops::Reporter for Context {
    fn warn(&self, message: &str) {
        Context::warn(self, message);
    }

    fn failure(&self, message: &str) {
        Context::failure(self, message);
    }
}

/// The built-in sandbox's config for `psa` with these vendors, and recon's default `[sync]`
/// policy instead of the tests' push-everything one (`tail` goes in its place).
#[cfg(feature = "sandbox")]
fn sandbox_config(
    sandbox: &recon_sandbox::Sandbox,
    psa: crate::psa::PsaKind,
    vendors: &[&str],
    tail: &str,
) -> String {
    (psa.0.sandbox_config)(sandbox, vendors).replace(recon_sandbox::SYNC_PUSH_EVERYTHING, tail)
}

/// The words of the config's PSA, for everything a command prints.
pub fn wording(config: &Config) -> Wording {
    config.psa.as_ref().map_or(Wording::NEUTRAL, |p| Wording(p.kind.0.profile))
}

/// The vendor's config section, or a usage error that lists the configured ones.
pub fn vendor_config<'c>(config: &'c Config, name: &str) -> anyhow::Result<&'c crate::vendors::VendorConfig> {
    config.vendor(name).ok_or_else(|| {
        let known: Vec<&str> = config.vendors.keys().map(String::as_str).collect();
        usage(format!(
            "vendor {name:?} is not in {} (configured: {})",
            config.path.display(),
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        ))
    })
}

pub fn run(cli: Cli) -> anyhow::Result<u8> {
    // Completions and the man page need no config, database or clock.
    match &cli.command {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command_line(), "recon", &mut buf);
            crate::out!("{}", String::from_utf8_lossy(&buf).trim_end());
            return Ok(EXIT_OK);
        }
        Command::Man { dir } => return man::run(dir.as_deref()),
        _ => {}
    }
    let ctx = Context::from_cli(&cli)?;
    match cli.command {
        Command::Init { force, psa } => init::run(&ctx, force, psa),
        Command::Check => check::run(&ctx),
        Command::Connect { vendor } => connect::run(&ctx, &vendor),
        Command::Disconnect { vendor, yes } => disconnect::run(&ctx, &vendor, yes),
        Command::Map(MapCommand::Accounts(args)) => map::accounts(&ctx, &args),
        Command::Map(MapCommand::Services(args)) => map::services(&ctx, &args),
        Command::Companies { search } => companies::run(&ctx, search.as_deref()),
        Command::Products(args) => products::run(&ctx, &args),
        Command::Sync(args) => sync::run(&ctx, &args),
        Command::Audit(args) => audit::run(&ctx, &args),
        Command::Review { all } => review::list(&ctx, all),
        Command::Approve { ids, all } => review::approve(&ctx, &ids, all),
        Command::Reject { ids, all } => review::reject(&ctx, &ids, all),
        Command::Undo { run, yes } => undo::run(&ctx, run, yes),
        Command::Status => status::run(&ctx),
        Command::History { run, limit } => history::run(&ctx, run, limit),
        Command::Report(args) => report::run(&ctx, &args),
        Command::Completions { .. } | Command::Man { .. } => Ok(EXIT_OK),
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => demo::run(&ctx, &args),
        #[cfg(feature = "sandbox")]
        Command::Sandbox { psa } => sandbox::run(&ctx, psa),
    }
}
