//! The command line. The doc comments are the help text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `recon demo --help`: only what the demo uses (it makes its own config and database, and
/// prints for people, so --config, --db and --json do not apply). A test keeps it in step
/// with `DemoArgs`; `demo_help` fills in the registered PSAs.
#[cfg(feature = "sandbox")]
const DEMO_HELP: &str = "\
The whole flow against the built-in sandbox: no credentials, no network beyond loopback

Usage: recon demo [OPTIONS]

Options:
      --report <PATH>  Where to write the report page of the demo's run
                       [default: ./recon-demo-report.html]
      --psa <PSA>      The PSA the demo bills through [default: connectwise]
                       [possible values: {psas}]
  -q, --quiet          Only errors on stderr
      --no-progress    No progress bars, even on a terminal
  -h, --help           Print help

Examples:
  recon demo
{examples}";

/// `DEMO_HELP` with every registered PSA: its `--psa` values and an example of each other.
#[cfg(feature = "sandbox")]
fn demo_help() -> String {
    let psas = crate::psa::PsaKind::all();
    let keys: Vec<&str> = psas.iter().map(|p| p.key()).collect();
    let examples: String = psas
        .iter()
        .filter(|p| !p.is_default())
        .map(|p| format!("  recon demo --psa {}\n", p.key()))
        .collect();
    DEMO_HELP.replace("{psas}", &keys.join(", ")).replace("{examples}", &examples)
}

/// The heading of the options every command takes, listed after the command's own.
const GLOBAL: &str = "Global options";

/// Reconcile vendor usage (Nodeware, Huntress, SaaS Alerts, NordLayer, NordPass, Pax8,
/// Sherweb, CSV) with the recurring lines of your PSA (ConnectWise agreements, Autotask
/// contracts, HaloPSA recurring invoices), from your own machine.
///
/// Exit codes: 0 success; 1 a run error (network, API, partial failure); 2 bad usage or
/// config; 3 another recon holds the lock; 4 changes held for review.
#[derive(Debug, Parser)]
#[command(name = "recon", version, propagate_version = true)]
pub struct Cli {
    /// The config file [default: $XDG_CONFIG_HOME/recon/config.toml]
    #[arg(long, global = true, env = "RECON_CONFIG", value_name = "PATH", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// The SQLite database [default: [database] path, else $XDG_DATA_HOME/recon/recon.db]
    #[arg(long, global = true, env = "RECON_DB", value_name = "PATH", help_heading = GLOBAL)]
    pub db: Option<PathBuf>,

    /// Machine-readable JSON on stdout (and nothing else there)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// More detail on stderr (-v: info, -vv: every HTTP request)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet", help_heading = GLOBAL)]
    pub verbose: u8,

    /// Only errors on stderr (and the reason for a non-zero exit)
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,

    /// No progress bars, even on a terminal
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_progress: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter config (mode 0600)
    #[command(after_help = "Example:\n  recon init && $EDITOR ~/.config/recon/config.toml")]
    Init {
        /// Overwrite an existing config
        #[arg(long)]
        force: bool,
        /// The PSA the starter is for
        #[arg(long, value_enum, default_value = "connectwise")]
        psa: PsaKind,
    },
    /// Validate the config and test the PSA's and every vendor's credentials
    #[command(after_help = "Example:\n  recon check")]
    Check,
    /// Authenticate to a vendor, fetch its accounts and services, and auto-match accounts by exact name
    #[command(after_help = "Example:\n  recon connect nodeware")]
    Connect {
        /// The vendor's section name in the config, e.g. nodeware
        vendor: String,
    },
    /// Forget a vendor's accounts, services and mappings (history stays)
    #[command(after_help = "Example:\n  recon disconnect nodeware")]
    Disconnect {
        /// The vendor's section name in the config
        vendor: String,
        /// Do not ask first (a terminal is asked; a script or cron must say --yes)
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Map vendor accounts to companies (and the agreement or contract they bill to), and vendor services to products
    #[command(subcommand)]
    #[command(after_help = "Example:\n  recon map accounts --vendor nodeware --unmatched")]
    Map(MapCommand),
    /// The PSA's companies with their active agreements (contracts, recurring invoices)
    #[command(after_help = "Example:\n  recon companies --search dental")]
    Companies {
        /// Only companies whose name or identifier contains TEXT
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
    },
    /// The PSA's catalog products (identifier, description, id, price, cost), or the
    /// subcategory and type ids `map services --create-product` needs
    #[command(after_help = "Example:\n  recon products --search huntress")]
    Products(ProductsArgs),
    /// Build the plan from vendor usage, print it, and unless --dry-run push it to the PSA
    #[command(
        after_help = "Examples:\n  recon sync --dry-run\n  recon sync --yes -q --no-progress --report recon.html    # from cron"
    )]
    Sync(SyncArgs),
    /// What each vendor invoiced for a month beside what the PSA bills for it: under-billed,
    /// over-billed, unmapped vendor charges and lines the vendor no longer charges
    #[command(
        after_help = "Examples:\n  recon audit                      # last month\n  recon audit --period 2026-11 --format csv > audit.csv"
    )]
    Audit(AuditArgs),
    /// Changes held by the [sync] policy, awaiting approve or reject
    #[command(after_help = "Example:\n  recon review")]
    Review {
        /// Also list rejected changes that still stand (not proposed again until the vendor
        /// or PSA quantity moves)
        #[arg(long)]
        all: bool,
    },
    /// Push held changes (re-reading each line first, so a change made meanwhile in the
    /// PSA is not overwritten)
    #[command(override_usage = "recon approve <IDS>...|--all")]
    #[command(after_help = "Example:\n  recon approve 12 14")]
    Approve {
        /// Held change ids (from `recon review`)
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<i64>,
        /// Every held change
        #[arg(long)]
        all: bool,
    },
    /// Decline held changes: nothing is pushed, and the same proposal is not made again until
    /// the vendor or PSA quantity moves
    #[command(override_usage = "recon reject <IDS>...|--all")]
    #[command(after_help = "Example:\n  recon reject 13")]
    Reject {
        /// Held change ids (from `recon review`)
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<i64>,
        /// Every held change
        #[arg(long)]
        all: bool,
    },
    /// Plan the reverse of a run's applied changes; apply it with --yes
    #[command(after_help = "Example:\n  recon undo 7 --yes")]
    Undo {
        /// The run to reverse (see `recon history`)
        run: i64,
        /// Apply the reverse plan
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Per vendor: status, mapped accounts and services, last sync and its result
    #[command(after_help = "Example:\n  recon status")]
    Status,
    /// Past runs, or the changes of one run
    #[command(after_help = "Example:\n  recon history 7")]
    History {
        /// A run id
        run: Option<i64>,
        /// How many runs to list
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// A run as one self-contained HTML page (or CSV, JSON) for the people who decide about
    /// billing: the money, the changes by company, what waits for a person
    #[command(after_help = "Example:\n  recon report --output november.html")]
    Report(ReportArgs),
    /// Print shell completions (bash, zsh, fish, powershell, elvish) to stdout
    #[command(
        after_help = "Example:\n  recon completions bash > ~/.local/share/bash-completion/completions/recon"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout, or write one page per command to a folder
    #[command(
        after_help = "Examples:\n  recon man > ~/.local/share/man/man1/recon.1\n  recon man --dir ~/.local/share/man/man1    # recon.1, recon-sync.1, ..."
    )]
    Man {
        /// Write recon.1 and a page per command (recon-sync.1, recon-map-accounts.1, ...)
        /// into this folder instead
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// The whole flow against the built-in sandbox: no credentials, no network beyond loopback
    #[cfg(feature = "sandbox")]
    Demo(DemoArgs),
    /// Try every command by hand without a real PSA: serve the sandbox on loopback until
    /// Ctrl-C, with a config that points at it (its path is printed)
    #[cfg(feature = "sandbox")]
    #[command(after_help = "Example:\n  recon sandbox --psa autotask")]
    Sandbox {
        /// The PSA the config points at
        #[arg(long, value_enum, default_value = "connectwise")]
        psa: PsaKind,
    },
}

#[derive(Debug, Subcommand)]
pub enum MapCommand {
    /// List vendor accounts with the company and agreement (contract) they bill to, or change one mapping
    #[command(
        after_help = "Examples:\n  recon map accounts --vendor nodeware --unmatched\n  recon map accounts --vendor nodeware --set \"Acme Dental Inc\" --company AcmeDental --agreement \"Managed Services\""
    )]
    Accounts(MapAccountsArgs),
    /// List vendor services with their catalog product, or change one mapping
    #[command(
        after_help = "Example:\n  recon map services --vendor nodeware --set vms --product NODEWARE-VMS"
    )]
    Services(MapServicesArgs),
}

#[derive(Debug, Args)]
pub struct MapAccountsArgs {
    /// The vendor (needed to change a mapping when several are connected)
    #[arg(long)]
    pub vendor: Option<String>,
    /// List only accounts without a company
    #[arg(long)]
    pub unmatched: bool,
    /// List only accounts whose name contains TEXT
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Map this account (vendor name or id) by hand
    #[arg(long, value_name = "ACCOUNT", requires = "company", conflicts_with_all = ["unmap", "auto"])]
    pub set: Option<String>,
    /// The PSA company (name, identifier or id)
    #[arg(long, value_name = "COMPANY", requires = "set")]
    pub company: Option<String>,
    /// What the account bills to, when the company has several (each PSA's word for it is an
    /// alias, and its help, from the PSA registry: `Cli::command_line`)
    #[arg(long, value_name = "AGREEMENT", requires = "set")]
    pub agreement: Option<String>,
    /// Remove this account's mapping
    #[arg(long, value_name = "ACCOUNT", conflicts_with = "auto")]
    pub unmap: Option<String>,
    /// Re-run exact-name matching for unmapped accounts
    #[arg(long)]
    pub auto: bool,
    /// Never map, match or bill this account (the MSP's own, NFR, internal); its mapping goes
    #[arg(long, value_name = "ACCOUNT", conflicts_with_all = ["set", "unmap", "auto", "include"])]
    pub exclude: Option<String>,
    /// With --exclude: why (shown in listings)
    #[arg(long, value_name = "TEXT", requires = "exclude")]
    pub reason: Option<String>,
    /// Include an excluded account again
    #[arg(long, value_name = "ACCOUNT", conflicts_with_all = ["set", "unmap", "auto"])]
    pub include: Option<String>,
}

#[derive(Debug, Args)]
pub struct MapServicesArgs {
    /// The vendor (needed to change a mapping when several are connected)
    #[arg(long)]
    pub vendor: Option<String>,
    /// Map this service (key or name)
    #[arg(long, value_name = "SERVICE", conflicts_with = "unmap")]
    pub set: Option<String>,
    /// The catalog product (identifier or id)
    #[arg(long, value_name = "PRODUCT", conflicts_with = "create_product")]
    pub product: Option<String>,
    /// Create the product in the PSA's catalog and map it [default identifier: VENDOR-SERVICE]
    #[arg(long, value_name = "IDENTIFIER", requires = "set", num_args = 0..=1, default_missing_value = "")]
    pub create_product: Option<String>,
    /// With --create-product: the description [default: the service's name]
    #[arg(long, requires = "create_product")]
    pub description: Option<String>,
    /// With --create-product (ConnectWise): the catalog subcategory id [default: [connectwise] product_subcategory_id]
    #[arg(long, value_name = "ID", requires = "create_product")]
    pub subcategory: Option<i64>,
    /// With --create-product (ConnectWise): the product type id [default: [connectwise] product_type_id]
    #[arg(long = "product-type", value_name = "ID", requires = "create_product")]
    pub product_type: Option<i64>,
    /// With --set: never bill fewer than N units on a line this service feeds
    #[arg(long, value_name = "N", requires = "set")]
    pub minimum: Option<u32>,
    /// With --set: how lines recon creates for this product are billed [default: the PSA section's bill_customer]
    #[arg(long, value_name = "B", requires = "set", value_parser = ["Billable", "DoNotBill", "NoCharge"])]
    pub bill_customer: Option<String>,
    /// With --set: a decrease of seats under a distributor's annual or multi-year commitment
    /// is held for review (the default) or applied
    #[arg(long, value_name = "DECISION", requires = "set", value_parser = ["review", "apply"])]
    pub committed_decreases: Option<String>,
    /// With --set: bill only these device classes of the service's count: a class set the
    /// vendor names (`server`, `workstation`, `network`, ...), one set in its config
    /// section's `classes`, or one class (`WINDOWS_SERVER`). Added beside the service's other
    /// mappings, so one count splits into several products
    #[arg(long, value_name = "CLASS", requires = "set")]
    pub class: Option<String>,
    /// With --set: the units the plan includes: the line bills what is over N (after every
    /// mapping feeding it is summed)
    #[arg(long, value_name = "N", requires = "set")]
    pub included: Option<u32>,
    /// With --set: keep the service's mappings to other products (one count billing several
    /// products, e.g. "RMM" and "Patch management")
    #[arg(long, requires = "set")]
    pub also: bool,
    /// Remove this service's mappings (with --product, only the one to that product)
    #[arg(long, value_name = "SERVICE")]
    pub unmap: Option<String>,
    /// With --set: replace a mapping to another product without asking (a terminal is
    /// asked; a script or cron must say --yes)
    #[arg(long, short = 'y', requires = "set")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only this vendor (repeatable) [default: every connected vendor]
    #[arg(long = "vendor", value_name = "VENDOR")]
    pub vendors: Vec<String>,
    /// Show the plan; write nothing to the PSA
    #[arg(long)]
    pub dry_run: bool,
    /// The billing period: current, previous or YYYY-MM, at most a year back (file vendors;
    /// live APIs give only current usage)
    #[arg(long, default_value = "current")]
    pub period: String,
    /// Allow a --period more than a year back (new lines start billing that month)
    #[arg(long)]
    pub allow_old_period: bool,
    /// Push without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Accept a fall in a vendor's total usage larger than max_change_percent (the outage
    /// guard otherwise refuses to push anything for that vendor)
    #[arg(long)]
    pub accept_drop: bool,
    /// Also list the lines with nothing in the PSA and nothing to bill (counted otherwise)
    #[arg(long)]
    pub all: bool,
    /// At the end, write the run's report page (HTML) to PATH, e.g. for cron to mail
    #[arg(long, value_name = "PATH")]
    pub report: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProductsArgs {
    /// Only entries whose identifier, description or name contains TEXT
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// List the catalog subcategories (the --subcategory of --create-product)
    #[arg(long, conflicts_with = "types")]
    pub subcategories: bool,
    /// List the product types (the --product-type of --create-product)
    #[arg(long)]
    pub types: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the report page of the demo's run [default: ./recon-demo-report.html]
    #[arg(long, value_name = "PATH")]
    pub report: Option<std::path::PathBuf>,
    /// The PSA the demo bills through
    #[arg(long, value_enum, default_value = "connectwise")]
    pub psa: PsaKind,
}

/// Which PSA: one of `crate::PSAS`.
pub use crate::psa::PsaKind;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The month: previous, current or YYYY-MM, at most a year back
    #[arg(long, default_value = "previous")]
    pub period: String,
    /// Only this vendor (repeatable) [default: every connected vendor that can say what it
    /// invoiced for a month: Pax8, Sherweb]
    #[arg(long = "vendor", value_name = "VENDOR")]
    pub vendors: Vec<String>,
    /// What to print [default: a table; json with --json]
    #[arg(long, value_enum)]
    pub format: Option<AuditFormat>,
}

/// How `recon audit` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run (see `recon history`) [default: the latest sync, dry or real]
    pub run: Option<i64>,
    /// What to write [default: from the --output extension (.html, .csv, .json), else html;
    /// json with --json]
    #[arg(long, value_enum)]
    pub format: Option<crate::report::Format>,
    /// Write to PATH instead of standard output (an HTML page is never printed on a terminal)
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<std::path::PathBuf>,
}

impl Cli {
    /// The command line as recon parses it, with what the registered PSAs add: each PSA's
    /// word for the container `map accounts --set` bills to is an alias of `--agreement`
    /// (`--contract`, `--invoice`), and its help says how each is named.
    pub fn command_line() -> clap::Command {
        use clap::CommandFactory;
        let psas = crate::psa::PsaKind::all();
        let aliases: Vec<&'static str> = psas
            .iter()
            .filter_map(|p| p.0.profile.container_option.strip_prefix("--"))
            .filter(|option| *option != "agreement")
            .collect();
        let named: Vec<&'static str> = psas.iter().map(|p| p.0.profile.container_reference).collect();
        let help = format!("What the account bills to, when the company has several: {}", named.join(", "));
        let cli = Cli::command().mut_subcommand("map", |map| {
            map.mut_subcommand("accounts", |accounts| {
                accounts.mut_arg("agreement", |arg| arg.visible_aliases(aliases).help(help))
            })
        });
        #[cfg(feature = "sandbox")]
        let cli = cli.mut_subcommand("demo", |demo| demo.override_help(demo_help()));
        cli
    }

    /// Parse the process's arguments (`command_line`); a bad one exits with clap's message.
    pub fn from_args() -> Cli {
        use clap::FromArgMatches;
        let matches = Cli::command_line().get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "sandbox")]
    #[test]
    fn the_demo_help_names_every_demo_flag() {
        for arg in DemoArgs::augment_args(clap::Command::new("demo")).get_arguments() {
            let long = arg.get_long().unwrap_or_default();
            assert!(DEMO_HELP.contains(&format!("--{long}")), "demo --help lacks --{long}");
        }
        assert!(!DEMO_HELP.contains("--config") && !DEMO_HELP.contains("--json"));
        let help = demo_help();
        for psa in crate::psa::PsaKind::all() {
            assert!(help.contains(psa.key()), "demo --help names {}", psa.key());
        }
    }

    #[test]
    fn every_command_shows_an_example_and_its_own_options_before_the_global_ones() {
        let mut cli = Cli::command_line();
        cli.build();
        for sub in cli.get_subcommands_mut().filter(|s| s.get_name() != "help") {
            let name = sub.get_name().to_string();
            let help = sub.render_long_help().to_string();
            assert!(help.contains("Example"), "{name} has an example");
            if let (Some(own), Some(global)) = (help.find("Options:"), help.find("Global options:")) {
                assert!(own < global, "{name}: its own options first");
            }
        }
    }
}
