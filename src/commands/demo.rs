//! `recon demo`: the whole flow against the built-in sandbox, with a temporary config and
//! database: connect -> map (auto + the service mappings a user would set) -> audit of last
//! month -> sync --dry-run.

use super::{Context, EXIT_OK};
use crate::cli::{AuditArgs, DemoArgs, MapAccountsArgs, MapServicesArgs, SyncArgs};
use recon_sandbox::{DISTRIBUTOR_PRODUCTS, SERVICE_PRODUCTS, Sandbox};

/// The vendors the demo connects (their services map to the sandbox catalog's products):
/// two security vendors, a distributor (Microsoft 365 through Pax8) and an RMM.
const VENDORS: [&str; 4] = ["nodeware", "huntress", "pax8", "ninjaone"];
/// The RMM's device count split by class: (class set, product).
const DEVICE_CLASSES: [(&str, &str); 2] = [("workstation", "MANAGED-WS"), ("server", "MANAGED-SRV")];

pub fn run(ctx: &Context, args: &DemoArgs) -> anyhow::Result<u8> {
    if ctx.json {
        return Err(super::usage(
            "recon demo prints a walkthrough for people; --json is not supported (try `recon --json sync --dry-run` against `recon sandbox`)",
        ));
    }
    let sandbox = Sandbox::start()?;
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("config.toml");
    // recon's default [sync] policy, not the sandbox's push-everything one: the plan then
    // shows which changes a cron run would hold for review.
    let config = super::sandbox_config(&sandbox, args.psa, &VENDORS, "");
    crate::private_files::write(&config_path, &config)?;
    let demo = Context {
        config_path,
        db_override: Some(dir.path().join("recon.db")),
        json: false,
        quiet: ctx.quiet,
        progress: ctx.progress,
        interactive: false,
        now: ctx.now,
    };
    crate::out!("recon demo: a sandbox {} and vendor APIs are running on 127.0.0.1;", args.psa.name());
    crate::out!("config and database live in {} until the demo ends.\n", dir.path().display());

    for vendor in VENDORS {
        step(&format!("recon connect {vendor}"));
        super::connect::run(&demo, vendor)?;
    }
    let products = SERVICE_PRODUCTS.iter().chain(&DISTRIBUTOR_PRODUCTS);
    let plain = products.filter(|(v, _, _)| VENDORS.contains(v)).map(|&(v, s, p)| (v, s, p, None));
    let by_class = DEVICE_CLASSES.iter().map(|&(class, p)| ("ninjaone", "devices", p, Some(class)));
    for (vendor, service, product, class) in plain.chain(by_class) {
        let rule = class.map(|c| format!(" --class {c}")).unwrap_or_default();
        step(&format!("recon map services --vendor {vendor} --set {service}{rule} --product {product}"));
        let args = MapServicesArgs {
            vendor: Some(vendor.to_string()),
            set: Some(service.to_string()),
            product: Some(product.to_string()),
            create_product: None,
            description: None,
            subcategory: None,
            product_type: None,
            minimum: None,
            class: class.map(str::to_string),
            included: None,
            also: false,
            bill_customer: None,
            committed_decreases: None,
            unmap: None,
            yes: false,
        };
        super::map::services(&demo, &args)?;
    }
    step("recon map accounts --unmatched");
    super::map::accounts(
        &demo,
        &MapAccountsArgs {
            vendor: None,
            unmatched: true,
            search: None,
            set: None,
            company: None,
            agreement: None,
            unmap: None,
            auto: false,
            exclude: None,
            reason: None,
            include: None,
        },
    )?;
    // What Pax8 invoiced last month beside what the PSA bills: the owner's month-end
    // question (gaps exit 5, which the demo only shows).
    step("recon audit --period previous");
    super::audit::run(&demo, &AuditArgs { period: "previous".into(), vendors: Vec::new(), format: None })?;
    let page = report_path(args.report.as_deref());
    step(&format!(
        "recon sync --dry-run --report {}",
        crate::output::wording::shell_word(&page.display().to_string())
    ));
    let code = super::sync::run(
        &demo,
        &SyncArgs {
            vendors: Vec::new(),
            dry_run: true,
            period: "current".into(),
            allow_old_period: false,
            yes: false,
            accept_drop: false,
            all: false,
            report: Some(page.clone()),
        },
    )?;
    crate::out!(
        "\nThat was a dry run against the sandbox. With a real config: `recon init{}`, then the same commands.",
        if args.psa.is_default() { String::new() } else { format!(" --psa {}", args.psa.key()) }
    );
    crate::out!("Open {} in a browser: the month-end page an owner reads (`recon report`).", page.display());
    Ok(if code == super::EXIT_RUN_ERROR { code } else { EXIT_OK })
}

/// Where the demo's report goes: `--report`, else `recon-demo-report.html` here, else (a
/// folder recon may not write in) the temp folder, which outlives the demo's own files.
fn report_path(given: Option<&std::path::Path>) -> std::path::PathBuf {
    if let Some(path) = given {
        return path.to_path_buf();
    }
    let name = "recon-demo-report.html";
    let here = std::path::PathBuf::from(name);
    let writable = tempfile::NamedTempFile::new_in(".").is_ok();
    if writable { here } else { std::env::temp_dir().join(name) }
}

fn step(command: &str) {
    crate::out!("\n$ {command}");
}
