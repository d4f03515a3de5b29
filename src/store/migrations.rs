//! The schema, as an ordered list of steps. Step `n` (counting from 1) brings a database
//! from `PRAGMA user_version = n - 1` to `n`; each runs in its own IMMEDIATE transaction
//! that also bumps `user_version` (see `Store::migrate`).
//!
//! Add-only: never edit or reorder a step that has shipped; append a new one. For the same
//! reason the tables carry no CHECK constraints on enum columns (action, state, status, ...):
//! a new variant would otherwise need a table rebuild. Values are checked when read back,
//! and an unknown one is reported as corrupt.
//!
//! Times are RFC 3339 UTC text. JSON columns (`raw`, `counts`, `sources`) are text.
//! No column holds a secret, and none may.

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE vendors (
        name         TEXT PRIMARY KEY NOT NULL,
        status       TEXT NOT NULL,          -- inactive | pending | active
        connected_at TEXT,
        last_sync_at TEXT,
        last_result  TEXT,
        last_error   TEXT
    );

    CREATE TABLE vendor_accounts (
        vendor    TEXT NOT NULL,
        vendor_id TEXT NOT NULL,
        name      TEXT NOT NULL,
        status    TEXT,
        raw       TEXT NOT NULL,             -- JSON, as the vendor sent it
        seen_at   TEXT NOT NULL,
        PRIMARY KEY (vendor, vendor_id)
    );

    CREATE TABLE vendor_services (
        vendor TEXT NOT NULL,
        "key"  TEXT NOT NULL,
        name   TEXT NOT NULL,
        PRIMARY KEY (vendor, "key")
    );

    -- Mappings deliberately have no foreign key to the accounts and services: an account
    -- the vendor stops listing keeps its mapping, so the run can report it.
    CREATE TABLE account_mappings (
        vendor            TEXT NOT NULL,
        vendor_account_id TEXT NOT NULL,
        cw_company_id     INTEGER NOT NULL,
        cw_company_name   TEXT NOT NULL,
        cw_agreement_id   INTEGER,
        cw_agreement_name TEXT,
        how               TEXT NOT NULL,     -- auto | manual
        mapped_at         TEXT NOT NULL,
        PRIMARY KEY (vendor, vendor_account_id)
    );

    CREATE TABLE service_mappings (
        vendor                TEXT NOT NULL,
        service_key           TEXT NOT NULL,
        cw_product_id         INTEGER NOT NULL,
        cw_product_identifier TEXT NOT NULL,
        mapped_at             TEXT NOT NULL,
        PRIMARY KEY (vendor, service_key)
    );

    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        period      TEXT NOT NULL,           -- YYYY-MM
        dry_run     INTEGER NOT NULL,        -- 0 | 1
        vendors     TEXT NOT NULL,           -- comma list
        result      TEXT,                    -- NULL while running, ok | failed | partial | held
        counts      TEXT,                    -- JSON PlanCounts
        error       TEXT
    );

    CREATE TABLE changes (
        id           INTEGER PRIMARY KEY,
        run_id       INTEGER NOT NULL REFERENCES runs (id),
        vendor       TEXT NOT NULL,          -- the vendors of the line's sources, comma list
        account      TEXT NOT NULL,          -- the account names of the sources, comma list
        company_id   INTEGER,
        company      TEXT NOT NULL,
        agreement_id INTEGER,
        agreement    TEXT,
        addition_id  INTEGER,
        product_id   INTEGER,
        product      TEXT,
        "before"     REAL,
        "after"      INTEGER,
        action       TEXT NOT NULL,          -- add | update | unchanged | held | skipped
        state        TEXT NOT NULL,          -- planned | applied | failed | approved | rejected
        reason       TEXT,
        error        TEXT,
        sources      TEXT NOT NULL,          -- JSON array of Source
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
    );

    CREATE INDEX changes_by_run ON changes (run_id, id);
    CREATE INDEX changes_by_state ON changes (state, action);
    "#,
    // 2: keep the vendor account's name on its mapping, to name it after it vanishes.
    r#"
    ALTER TABLE account_mappings ADD COLUMN vendor_account_name TEXT NOT NULL DEFAULT '';
    UPDATE account_mappings SET vendor_account_name = COALESCE(
        (SELECT a.name FROM vendor_accounts a
          WHERE a.vendor = account_mappings.vendor AND a.vendor_id = account_mappings.vendor_account_id),
        vendor_account_id);
    "#,
    // 3: what a run was (a sync, an approval of held lines, an undo), and each vendor's last
    // pushed total for the outage guard.
    r#"
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'sync';
    ALTER TABLE vendors ADD COLUMN last_total INTEGER;
    "#,
    // 4: a copy of the ConnectWise companies, refreshed whenever recon reads them, so that
    // `map accounts` can suggest companies without calling ConnectWise.
    r#"
    CREATE TABLE cw_companies (
        id         INTEGER PRIMARY KEY NOT NULL,
        identifier TEXT NOT NULL,
        name       TEXT NOT NULL
    );
    "#,
    // 5: each vendor's last pushed quantity per (account, service), so the outage guard
    // compares only the accounts a run could read (`vendors.last_total` is no longer used).
    r#"
    CREATE TABLE vendor_usage_totals (
        vendor      TEXT NOT NULL,
        account_id  TEXT NOT NULL,
        service_key TEXT NOT NULL,
        quantity    INTEGER NOT NULL,
        PRIMARY KEY (vendor, account_id, service_key)
    );
    "#,
    // 6: what an add sends (its effective date and bill setting), and a change's reason as data (JSON of `plan::Reason`, with its code); `reason` keeps
    // the code from now on, and the text of older rows.
    r#"
    ALTER TABLE changes ADD COLUMN reason_data TEXT;
    ALTER TABLE changes ADD COLUMN effective_date TEXT;   -- YYYY-MM-DD, of an add
    ALTER TABLE changes ADD COLUMN bill_customer TEXT;    -- of an add
    "#,
    // 7: what a line is worth (JSON of exact decimals: unit price and cost, billed before
    // and after, revenue and margin change), why an add's date moved, and an in-force
    // addition's cancel date.
    r#"
    ALTER TABLE changes ADD COLUMN money TEXT;
    ALTER TABLE changes ADD COLUMN date_rule TEXT;
    ALTER TABLE changes ADD COLUMN cancelled_from TEXT;
    "#,
    // 8: the monthly revenue a run's applied writes moved, per vendor (JSON of exact
    // decimals), so `status` shows it without reading the run's changes.
    r#"
    ALTER TABLE runs ADD COLUMN applied_net TEXT;
    "#,
    // 9: billing rules per service mapping (a minimum billed quantity, the bill setting of
    // additions recon creates), and accounts that are never billed (internal, NFR).
    r#"
    ALTER TABLE service_mappings ADD COLUMN minimum INTEGER;
    ALTER TABLE service_mappings ADD COLUMN bill_customer TEXT;
    ALTER TABLE changes ADD COLUMN minimum INTEGER;        -- the minimum that raised the line
    CREATE TABLE account_exclusions (
        vendor            TEXT NOT NULL,
        vendor_account_id TEXT NOT NULL,
        account_name      TEXT NOT NULL,
        reason            TEXT,
        excluded_at       TEXT NOT NULL,
        PRIMARY KEY (vendor, vendor_account_id)
    );
    "#,
    // 10: what a run met besides its lines (JSON of `plan::RunDetails`): failed vendors and
    // reads with their messages, warnings, unmapped and excluded accounts, the currency.
    r#"
    ALTER TABLE runs ADD COLUMN details TEXT;
    "#,
    // 11: a line's price and cost findings (JSON of `plan::Finding`), and whether a service
    // mapping lets decreases of committed seats through (apply | review; NULL: review).
    r#"
    ALTER TABLE changes ADD COLUMN findings TEXT;
    ALTER TABLE service_mappings ADD COLUMN committed_decreases TEXT;
    "#,
    // 12: each send of a change's write and what answered it (JSON array of text), for a
    // write sent again in the same run after its answer was lost; and the unit cost a cost
    // change sets (decimal text; NULL for a quantity change).
    r#"
    ALTER TABLE changes ADD COLUMN attempts TEXT;
    ALTER TABLE changes ADD COLUMN new_unit_cost TEXT;
    "#,
    // 13: a held change of a real run that waits for a decision is one state, `waiting`,
    // instead of the pair (action held, state planned).
    r#"
    UPDATE changes SET state = 'waiting'
     WHERE action = 'held' AND state = 'planned' AND run_id IN (SELECT id FROM runs WHERE dry_run = 0);
    "#,
    // 14: account-company pairs a person unmapped: auto-matching never pairs them again (a
    // `--set` of the pair removes the row).
    r#"
    CREATE TABLE account_unmatches (
        vendor            TEXT NOT NULL,
        vendor_account_id TEXT NOT NULL,
        account_name      TEXT NOT NULL,
        company_id        INTEGER NOT NULL,
        company_name      TEXT NOT NULL,
        unmapped_at       TEXT NOT NULL,
        PRIMARY KEY (vendor, vendor_account_id, company_id)
    );
    "#,
    // 15: when a change's write was handed to the network (set just before each send), so
    // that a run a killed process left is settled knowing which writes may have reached
    // the PSA and until when one may still land.
    r#"
    ALTER TABLE changes ADD COLUMN sent_at TEXT;
    "#,
    // 16: the time of each request sent to a service with an hourly budget (Autotask), by
    // every recon process on this database, in Unix milliseconds (compared as numbers);
    // pruned to the last hour as it is written.
    r#"
    CREATE TABLE psa_requests (
        service TEXT NOT NULL,
        sent_at_ms INTEGER NOT NULL
    );
    CREATE INDEX psa_requests_by_time ON psa_requests (service, sent_at_ms);
    "#,
    // 17: every version of every document a vendor issued for a month (invoices, credit
    // notes, re-issues), as read: a document read again unchanged is one row; a changed or
    // voided one is another row beside the first.
    r#"
    CREATE TABLE vendor_documents (
        vendor      TEXT NOT NULL,
        period      TEXT NOT NULL,
        document_id TEXT NOT NULL,
        status      TEXT,
        void        INTEGER NOT NULL,
        body        TEXT NOT NULL,
        first_seen  TEXT NOT NULL,
        PRIMARY KEY (vendor, document_id, body)
    );
    "#,
    // 18: each `recon audit` of a month: its totals and rows, for the report page.
    r#"
    CREATE TABLE audits (
        id         INTEGER PRIMARY KEY,
        period     TEXT NOT NULL,
        audited_at TEXT NOT NULL,
        vendors    TEXT NOT NULL,
        totals     TEXT NOT NULL,
        rows       TEXT NOT NULL
    );
    "#,
    // 19: a service may feed several products (one device count billing "RMM" and "Patch
    // management"), so a mapping is one (vendor, service, product); each may bill only some
    // device classes (`classes`, JSON: the rule's name and classes) and what is over an
    // included quantity.
    r#"
    CREATE TABLE service_mappings_19 (
        vendor                TEXT NOT NULL,
        service_key           TEXT NOT NULL,
        cw_product_id         INTEGER NOT NULL,
        cw_product_identifier TEXT NOT NULL,
        mapped_at             TEXT NOT NULL,
        minimum               INTEGER,
        bill_customer         TEXT,
        committed_decreases   TEXT,
        classes               TEXT,
        included              INTEGER,
        PRIMARY KEY (vendor, service_key, cw_product_id)
    );
    INSERT INTO service_mappings_19 (vendor, service_key, cw_product_id, cw_product_identifier,
                                     mapped_at, minimum, bill_customer, committed_decreases)
        SELECT vendor, service_key, cw_product_id, cw_product_identifier, mapped_at, minimum,
               bill_customer, committed_decreases
        FROM service_mappings;
    DROP TABLE service_mappings;
    ALTER TABLE service_mappings_19 RENAME TO service_mappings;
    "#,
    // 20: the units a plan includes that a line's quantity is over (`map services --included`).
    r#"
    ALTER TABLE changes ADD COLUMN included INTEGER;
    "#,
];
