//! Exact-name auto-matching, suggestions, reference resolution (pure).
//!
//! Two notions of "same name" live here, on purpose:
//! - [`normalize_name`] (trim, collapse whitespace, Unicode lowercase) is the only one that
//!   may map an account by itself ([`auto_match`]): a wrong automatic mapping bills the wrong
//!   customer, so it has to be the same name.
//! - the canonical key behind [`similarity`] also drops accents, punctuation and legal suffixes
//!   and reads "&" as "and"; it only ranks [`Suggestion`]s that a person then confirms.

use crate::model::{AccountMapping, BillingContainer, MappedBy, PsaCompany, VendorAccount};
use foldhash::{HashMap as FastMap, HashMapExt, HashSet as FastSet, HashSetExt};
use serde::Serialize;
use std::collections::HashSet;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Suggestions scoring below this are not shown.
pub const SUGGESTION_THRESHOLD: u8 = 60;

/// How many close names an "unknown" error lists.
const UNKNOWN_CANDIDATES: usize = 5;

/// Trailing words that say what kind of legal entity a company is, not which one.
const LEGAL_SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "llp",
    "ltd",
    "limited",
    "gmbh",
    "co",
    "corp",
    "corporation",
    "plc",
    "sa",
    "ag",
    "pty",
];

/// The form two names are compared in for an exact match: canonically composed (NFC, so a
/// precomposed "é" and "e" + combining accent are the same text), trimmed, inner whitespace runs
/// collapsed to one space, Unicode lowercase.
pub fn normalize_name(s: &str) -> String {
    if s.is_ascii() {
        return normalize_ascii(s);
    }
    let folded = s.nfc().collect::<String>().to_lowercase();
    let mut out = String::with_capacity(folded.len());
    for word in folded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `normalize_name` for ASCII, which is already composed: byte by byte, as this runs for
/// every company and account name (tens of thousands at MSP scale). The whitespace set is
/// `char::is_whitespace` restricted to ASCII, as `split_whitespace` uses.
fn normalize_ascii(s: &str) -> String {
    let mut bytes = Vec::with_capacity(s.len());
    let mut gap = false;
    for b in s.bytes() {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
            gap = true;
            continue;
        }
        if gap && !bytes.is_empty() {
            bytes.push(b' ');
        }
        gap = false;
        bytes.push(b.to_ascii_lowercase());
    }
    // Lowercased ASCII is still ASCII: this never falls back.
    String::from_utf8(bytes).unwrap_or_default()
}

/// What [`auto_match`] made of the vendor's accounts. Every list is sorted by account id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MatchOutcome {
    /// (account id, company id): exactly one account and exactly one company have the name.
    pub matched: Vec<(String, i64)>,
    /// (account id, company ids sorted): two or more PSA companies have the account's name.
    pub ambiguous_company: Vec<(String, Vec<i64>)>,
    /// Account ids whose name another account of the vendor also has, where a company has that
    /// name too (without one they are simply unmatched).
    pub ambiguous_account: Vec<String>,
    /// Account ids no company has the name of.
    pub unmatched: Vec<String>,
    /// (account id, company id): the name matches one company, but a person unmapped that
    /// pair (`map accounts --unmap`), so it is never matched again.
    pub refused: Vec<(String, i64)>,
}

/// Map accounts to companies by exact normalized name. Accounts in `already_mapped` (by
/// account id) are left out of every list: a mapping someone made is never overwritten. A name
/// two accounts share counts as shared even when one of them is already mapped, because the
/// name alone cannot tell them apart. Accounts or companies listed twice with the same id count
/// once. Runs in linear time (hash index on the normalized company name).
pub fn auto_match(
    accounts: &[VendorAccount],
    companies: &[PsaCompany],
    already_mapped: &HashSet<String>,
    refused: &HashSet<(String, i64)>,
) -> MatchOutcome {
    // Name -> company ids. Nearly every name is unique: keep one id inline and a list only
    // for the few names two companies share.
    let mut company_ids = FastSet::with_capacity(companies.len());
    let mut by_name: FastMap<String, i64> = FastMap::with_capacity(companies.len());
    let mut shared: FastMap<String, Vec<i64>> = FastMap::new();
    for company in companies {
        if !company_ids.insert(company.id) {
            continue;
        }
        let name = normalize_name(&company.name);
        match by_name.get(&name) {
            None => {
                by_name.insert(name, company.id);
            }
            Some(&first) => shared.entry(name).or_insert_with(|| vec![first]).push(company.id),
        }
    }

    let mut account_ids = FastSet::with_capacity(accounts.len());
    let unique: Vec<(&VendorAccount, String)> = accounts
        .iter()
        .filter(|a| account_ids.insert(a.id.as_str()))
        .map(|a| (a, normalize_name(&a.name)))
        .collect();
    let mut names_seen: FastMap<&str, usize> = FastMap::with_capacity(accounts.len());
    for (_, name) in &unique {
        *names_seen.entry(name.as_str()).or_default() += 1;
    }

    let mut out = MatchOutcome::default();
    for (account, name) in &unique {
        if already_mapped.contains(&account.id) {
            continue;
        }
        let id = if name.is_empty() { None } else { by_name.get(name) };
        match id {
            None => out.unmatched.push(account.id.clone()),
            Some(_) if names_seen.get(name.as_str()).copied().unwrap_or(0) > 1 => {
                out.ambiguous_account.push(account.id.clone());
            }
            Some(&id) => match shared.get(name) {
                None if refused.contains(&(account.id.clone(), id)) => {
                    out.refused.push((account.id.clone(), id));
                }
                None => out.matched.push((account.id.clone(), id)),
                Some(ids) => {
                    let mut ids = ids.clone();
                    ids.sort_unstable();
                    out.ambiguous_company.push((account.id.clone(), ids));
                }
            },
        }
    }
    out.matched.sort();
    out.ambiguous_company.sort();
    out.ambiguous_account.sort();
    out.unmatched.sort();
    out.refused.sort();
    out
}

/// A company whose name is close to an account's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    pub company_id: i64,
    pub name: String,
    /// 0..=100; 100 when the names are the same once accents, punctuation, "&"/"and", legal
    /// suffixes, whitespace and case are set aside.
    pub score: u8,
}

/// A name prepared for [`similarity`]: its canonical key in two spellings, and what letters
/// it holds.
#[derive(Debug, Clone)]
struct Key {
    /// Words joined without space ("acmedental" ~ "acme dental"); equal keys score 100.
    compact: Vec<char>,
    /// Words sorted, then joined without space ("dental acme" ~ "acme dental").
    sorted: Vec<char>,
    /// How many characters of each bucket the key holds (both spellings hold the same).
    bag: [u32; BUCKETS],
}

/// Letters a-z, digits in pairs, everything else together.
const BUCKETS: usize = 32;

fn bucket(c: char) -> usize {
    match c {
        'a'..='z' => c as usize - 'a' as usize,
        '0'..='9' => 26 + (c as usize - '0' as usize) / 2,
        _ => 31,
    }
}

impl Key {
    fn new(name: &str) -> Key {
        let mut words = canonical_words(name);
        let compact: Vec<char> = words.concat().chars().collect();
        words.sort_unstable();
        let sorted: Vec<char> = words.concat().chars().collect();
        let mut bag = [0u32; BUCKETS];
        for &c in &compact {
            bag[bucket(c)] = bag[bucket(c)].saturating_add(1);
        }
        Key { compact, sorted, bag }
    }

    /// The fewest edits between the two keys that their letters alone prove: each edit can
    /// account for at most one character of the longer key that the other does not hold.
    fn min_distance(&self, other: &Key) -> usize {
        let common: u32 = self.bag.iter().zip(&other.bag).map(|(a, b)| (*a).min(*b)).sum();
        let longer = self.compact.len().max(other.compact.len());
        longer.saturating_sub(common as usize)
    }
}

/// The words of a name with accents stripped (NFD, combining marks dropped), lowercase,
/// apostrophes and dots removed ("L.L.C." -> "llc", "O'Brien" -> "obrien"), "&" read as "and",
/// other punctuation as a space, and trailing legal suffixes dropped ("Acme Pty Ltd" -> "acme").
fn canonical_words(name: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(name.len());
    for ch in name.nfd() {
        if is_combining_mark(ch) {
            continue;
        }
        match ch {
            '&' => cleaned.push_str(" and "),
            '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{00B4}' | '.' => {}
            c if c.is_alphanumeric() => cleaned.extend(c.to_lowercase()),
            _ => cleaned.push(' '),
        }
    }
    let mut words: Vec<String> = cleaned.split_whitespace().map(str::to_string).collect();
    while words.len() > 1 {
        let last = words.last().map(String::as_str).unwrap_or_default();
        if LEGAL_SUFFIXES.contains(&last) || last == "and" {
            words.pop();
        } else {
            break;
        }
    }
    words
}

/// How alike two names are, 0..=100, ignoring accents, punctuation, "&" vs "and", legal
/// suffixes, whitespace, word order (up to 99) and case. Use [`CompanyIndex`] to compare one
/// name with many.
pub fn similarity(a: &str, b: &str) -> u8 {
    key_similarity(&Key::new(a), &Key::new(b), 0)
}

/// The similarity of two keys (100 - edit distance per 100 characters of the longer key,
/// rounded down), or 0 when it is below `floor`: that lets most of a large catalog be ruled
/// out by its letters alone, and the rest with a distance computation cut short.
fn key_similarity(a: &Key, b: &Key, floor: u8) -> u8 {
    if a.compact.is_empty() || b.compact.is_empty() {
        return 0;
    }
    if a.compact == b.compact {
        return 100;
    }
    let longer = a.compact.len().max(b.compact.len());
    // score >= floor  <=>  100 * (longer - d) >= floor * longer  <=>  d <= this.
    let most = longer * (100 - usize::from(floor.min(100))) / 100;
    if a.min_distance(b) > most {
        return 0;
    }
    let compact = bounded_levenshtein(&a.compact, &b.compact, most);
    let sorted = bounded_levenshtein(&a.sorted, &b.sorted, compact.unwrap_or(most));
    let Some(distance) = [compact, sorted].into_iter().flatten().min() else {
        return 0;
    };
    let score = 100 * (longer - distance) / longer;
    // Not the same key, so never 100.
    u8::try_from(score).unwrap_or(99).min(99)
}

/// Edit distance (insertions, deletions, substitutions) between two words, one row at a time,
/// or `None` as soon as it is certain to exceed `most`.
fn bounded_levenshtein(a: &[char], b: &[char], most: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > most {
        return None;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        let mut row_min = row[0];
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
            row_min = row_min.min(row[j + 1]);
        }
        if row_min > most {
            return None;
        }
    }
    let distance = row[b.len()];
    (distance <= most).then_some(distance)
}

/// The companies with their canonical keys computed once, for suggesting against many names.
#[derive(Debug, Clone)]
pub struct CompanyIndex {
    entries: Vec<IndexedCompany>,
}

#[derive(Debug, Clone)]
struct IndexedCompany {
    id: i64,
    name: String,
    /// The name lowercased, to order suggestions that score the same.
    order: String,
    name_key: Key,
    /// `None` when the identifier says no more than the name ("AcmeDental" for "Acme Dental").
    identifier_key: Option<Key>,
}

impl IndexedCompany {
    fn score(&self, key: &Key, floor: u8) -> u8 {
        let by_name = key_similarity(key, &self.name_key, floor);
        match &self.identifier_key {
            Some(identifier) if by_name < 100 => by_name.max(key_similarity(key, identifier, floor)),
            _ => by_name,
        }
    }
}

impl CompanyIndex {
    /// Index `companies` (a company listed twice with the same id counts once).
    pub fn new(companies: &[PsaCompany]) -> CompanyIndex {
        let mut seen = HashSet::new();
        let entries = companies
            .iter()
            .filter(|c| seen.insert(c.id))
            .map(|c| {
                let name_key = Key::new(&c.name);
                let identifier_key = Some(Key::new(&c.identifier)).filter(|k| k.compact != name_key.compact);
                IndexedCompany {
                    id: c.id,
                    name: c.name.clone(),
                    order: c.name.to_lowercase(),
                    name_key,
                    identifier_key,
                }
            })
            .collect();
        CompanyIndex { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Up to `limit` companies whose name (or identifier) is close to `name`, scoring at least
    /// [`SUGGESTION_THRESHOLD`], best first (ties by name, then id).
    pub fn suggest(&self, name: &str, limit: usize) -> Vec<Suggestion> {
        if limit == 0 {
            return Vec::new();
        }
        let key = Key::new(name);
        let best_first = |a: &(u8, &IndexedCompany), b: &(u8, &IndexedCompany)| {
            b.0.cmp(&a.0).then_with(|| a.1.order.cmp(&b.1.order)).then_with(|| a.1.id.cmp(&b.1.id))
        };
        // Once `limit` candidates are in hand, only as good or better ones can still make it:
        // raising the floor lets the letter filter rule out more of the rest.
        let mut floor = SUGGESTION_THRESHOLD;
        let mut found: Vec<(u8, &IndexedCompany)> = Vec::new();
        for company in &self.entries {
            let score = company.score(&key, floor);
            if score >= floor {
                found.push((score, company));
                if found.len() >= limit.saturating_mul(2).max(16) {
                    found.sort_by(best_first);
                    found.truncate(limit);
                    floor = found.last().map_or(floor, |f| f.0);
                }
            }
        }
        found.sort_by(best_first);
        found.truncate(limit);
        found
            .into_iter()
            .map(|(score, c)| Suggestion { company_id: c.id, name: c.name.clone(), score })
            .collect()
    }
}

/// [`CompanyIndex::suggest`] for one name; build a [`CompanyIndex`] once when suggesting for
/// many.
pub fn suggest(name: &str, companies: &[PsaCompany], limit: usize) -> Vec<Suggestion> {
    CompanyIndex::new(companies).suggest(name, limit)
}

/// What kind of thing a reference named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Company,
    Account,
    /// What holds a company's lines, in the PSA's own word (ConnectWise's agreement is
    /// Autotask's contract).
    Agreement {
        word: &'static str,
    },
}

impl RefKind {
    fn noun(self) -> &'static str {
        match self {
            RefKind::Company => "company",
            RefKind::Account => "account",
            RefKind::Agreement { word } => word,
        }
    }

    fn plural(self) -> String {
        match self {
            RefKind::Company => "companies".to_string(),
            other => format!("{}s", other.noun()),
        }
    }

    /// What a reference to this kind may be.
    fn forms(self) -> &'static str {
        match self {
            RefKind::Company => "a name, identifier or id",
            RefKind::Account | RefKind::Agreement { .. } => "a name or id",
        }
    }

    /// How to tell apart things that share a name.
    fn disambiguate(self) -> &'static str {
        match self {
            RefKind::Company => "use the identifier or id",
            RefKind::Account | RefKind::Agreement { .. } => "use the id",
        }
    }
}

impl fmt::Display for RefKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// A reference (what the user typed) that names no single company, account or agreement.
/// Candidates are display lines such as `Summit Dental (SummitDentalNorth, id 250)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// Nothing has that id or name; `candidates` are the closest names, best first.
    Unknown { kind: RefKind, reference: String, candidates: Vec<String> },
    /// Several things have that name (or identifier); `candidates` are all of them.
    Ambiguous { kind: RefKind, reference: String, candidates: Vec<String> },
}

impl Unresolved {
    pub fn kind(&self) -> RefKind {
        match self {
            Unresolved::Unknown { kind, .. } | Unresolved::Ambiguous { kind, .. } => *kind,
        }
    }

    pub fn reference(&self) -> &str {
        match self {
            Unresolved::Unknown { reference, .. } | Unresolved::Ambiguous { reference, .. } => reference,
        }
    }

    pub fn candidates(&self) -> &[String] {
        match self {
            Unresolved::Unknown { candidates, .. } | Unresolved::Ambiguous { candidates, .. } => candidates,
        }
    }
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::Unknown { kind, reference, candidates } if candidates.is_empty() => {
                write!(f, "{kind} {reference:?} not found; give {}", kind.forms())
            }
            Unresolved::Unknown { kind, reference, candidates } => {
                write!(f, "{kind} {reference:?} not found; closest: {}", candidates.join(", "))
            }
            Unresolved::Ambiguous { kind, reference, candidates } => write!(
                f,
                "{kind} {reference:?} is ambiguous: {} {} have that name: {}; {}",
                candidates.len(),
                kind.plural(),
                candidates.join(", "),
                kind.disambiguate()
            ),
        }
    }
}

impl std::error::Error for Unresolved {}

fn company_line(c: &PsaCompany) -> String {
    format!("{} ({}, id {})", c.name, c.identifier, c.id)
}

fn account_line(a: &VendorAccount) -> String {
    format!("{} (id {})", a.name, a.id)
}

fn agreement_line(a: &BillingContainer) -> String {
    match a.number.as_deref().filter(|n| !a.name.contains(n)) {
        Some(number) => format!("{} (id {}, number {number})", a.name, a.id),
        None => format!("{} (id {})", a.name, a.id),
    }
}

/// One match, several (by distinct id) or none.
fn single<'a, T>(
    kind: RefKind,
    reference: &str,
    found: Vec<&'a T>,
    id: impl Fn(&T) -> String,
    line: impl Fn(&T) -> String,
) -> Option<Result<&'a T, Unresolved>> {
    let mut seen = HashSet::new();
    let mut distinct: Vec<&'a T> = found.into_iter().filter(|t| seen.insert(id(t))).collect();
    match distinct.len() {
        0 => None,
        1 => distinct.pop().map(Ok),
        _ => {
            distinct.sort_by_key(|t| id(t));
            Some(Err(Unresolved::Ambiguous {
                kind,
                reference: reference.to_string(),
                candidates: distinct.into_iter().map(line).collect(),
            }))
        }
    }
}

/// The active catalog products closest to `reference` by identifier or description, as
/// display lines, best first: what a mistyped `--product` meant.
pub fn closest_products(reference: &str, products: &[crate::model::CatalogProduct]) -> Vec<String> {
    let active: Vec<&crate::model::CatalogProduct> = products.iter().filter(|p| !p.inactive).collect();
    let line =
        |p: &&crate::model::CatalogProduct| format!("{} ({}, id {})", p.identifier, p.description, p.id);
    let mut lines = closest(reference, &active, |p| p.identifier.as_str(), line);
    for more in closest(reference, &active, |p| p.description.as_str(), line) {
        if !lines.contains(&more) {
            lines.push(more);
        }
    }
    lines.truncate(UNKNOWN_CANDIDATES);
    lines
}

/// The closest names to `reference` among `items`, as display lines, best first.
fn closest<T>(
    reference: &str,
    items: &[T],
    name: impl Fn(&T) -> &str,
    line: impl Fn(&T) -> String,
) -> Vec<String> {
    let key = Key::new(reference);
    let mut scored: Vec<(u8, String)> = items
        .iter()
        .filter_map(|item| {
            let score = key_similarity(&key, &Key::new(name(item)), SUGGESTION_THRESHOLD);
            (score >= SUGGESTION_THRESHOLD).then(|| (score, line(item)))
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.dedup();
    scored.into_iter().take(UNKNOWN_CANDIDATES).map(|(_, line)| line).collect()
}

/// Find the company a user named: a number equal to a company id; else an identifier equal
/// ignoring case; else a name equal after [`normalize_name`].
pub fn resolve_company<'a>(
    reference: &str,
    companies: &'a [PsaCompany],
) -> Result<&'a PsaCompany, Unresolved> {
    let kind = RefKind::Company;
    let text = reference.trim();
    let id_of = |c: &PsaCompany| c.id.to_string();
    if let Ok(id) = text.parse::<i64>()
        && let Some(c) = companies.iter().find(|c| c.id == id)
    {
        return Ok(c);
    }
    let lower = text.to_lowercase();
    let by_identifier = companies.iter().filter(|c| c.identifier.to_lowercase() == lower).collect();
    if let Some(found) = single(kind, text, by_identifier, id_of, company_line) {
        return found;
    }
    let wanted = normalize_name(text);
    let by_name = companies.iter().filter(|c| normalize_name(&c.name) == wanted).collect();
    if let Some(found) = single(kind, text, by_name, id_of, company_line) {
        return found;
    }
    let candidates = CompanyIndex::new(companies)
        .suggest(text, UNKNOWN_CANDIDATES)
        .into_iter()
        .filter_map(|s| companies.iter().find(|c| c.id == s.company_id))
        .map(company_line)
        .collect();
    Err(Unresolved::Unknown { kind, reference: text.to_string(), candidates })
}

/// Find the vendor account a user named: its id exactly; else a name equal after
/// [`normalize_name`].
pub fn resolve_account<'a>(
    reference: &str,
    accounts: &'a [VendorAccount],
) -> Result<&'a VendorAccount, Unresolved> {
    let kind = RefKind::Account;
    let text = reference.trim();
    if let Some(a) = accounts.iter().find(|a| a.id == text || a.id == reference) {
        return Ok(a);
    }
    let wanted = normalize_name(text);
    let by_name = accounts.iter().filter(|a| normalize_name(&a.name) == wanted).collect();
    if let Some(found) = single(kind, text, by_name, |a: &VendorAccount| a.id.clone(), account_line) {
        return found;
    }
    let candidates = closest(text, accounts, |a| a.name.as_str(), account_line);
    Err(Unresolved::Unknown { kind, reference: text.to_string(), candidates })
}

/// Find the agreement a user named among one company's agreements: its id; else a name equal
/// after [`normalize_name`]. `word` is the PSA's name for one (`agreement`, `contract`), for
/// the error.
pub fn resolve_agreement<'a>(
    reference: &str,
    agreements: &'a [BillingContainer],
    word: &'static str,
) -> Result<&'a BillingContainer, Unresolved> {
    let kind = RefKind::Agreement { word };
    let text = reference.trim();
    if let Ok(id) = text.parse::<i64>()
        && let Some(a) = agreements.iter().find(|a| a.id == id)
    {
        return Ok(a);
    }
    // A contract number (Autotask) is unique: it wins over a name that reads the same.
    if let Some(a) =
        agreements.iter().find(|a| a.number.as_deref().is_some_and(|n| n.trim().eq_ignore_ascii_case(text)))
    {
        return Ok(a);
    }
    // Another exact reference (Halo: the id of the invoice's contract).
    if let Some(a) = agreements.iter().find(|a| a.aliases.iter().any(|n| n.trim().eq_ignore_ascii_case(text)))
    {
        return Ok(a);
    }
    let wanted = normalize_name(text);
    let by_name = agreements.iter().filter(|a| normalize_name(&a.name) == wanted).collect();
    if let Some(found) = single(kind, text, by_name, |a: &BillingContainer| a.id.to_string(), agreement_line)
    {
        return found;
    }
    // A company has few agreements: when none is close, every one is a candidate.
    let mut candidates = closest(text, agreements, |a| a.name.as_str(), agreement_line);
    if candidates.is_empty() {
        let key = Key::new(text);
        let mut ranked: Vec<(bool, u8, &BillingContainer)> = agreements
            .iter()
            .map(|a| {
                (normalize_name(&a.name).contains(&wanted), key_similarity(&key, &Key::new(&a.name), 0), a)
            })
            .collect();
        ranked.sort_by(|x, y| (y.0, y.1).cmp(&(x.0, x.1)).then_with(|| x.2.name.cmp(&y.2.name)));
        candidates = ranked.into_iter().take(UNKNOWN_CANDIDATES).map(|(_, _, a)| agreement_line(a)).collect();
    }
    Err(Unresolved::Unknown { kind, reference: text.to_string(), candidates })
}

/// Which agreement a newly mapped account of a company bills to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgreementChoice {
    /// The company has exactly one active agreement.
    One(BillingContainer),
    /// The company has no active agreement.
    None,
    /// The company has several; a person has to choose (sorted by id).
    Several(Vec<BillingContainer>),
}

/// Pick the agreement of `company_id` among `active_agreements` (the caller passes only active
/// ones; agreements of other companies are ignored, an agreement listed twice counts once).
pub fn choose_agreement(company_id: i64, active_agreements: &[BillingContainer]) -> AgreementChoice {
    let mut mine: Vec<BillingContainer> =
        active_agreements.iter().filter(|a| a.company_id == company_id).cloned().collect();
    mine.sort_by_key(|a| a.id);
    mine.dedup_by_key(|a| a.id);
    match mine.len() {
        0 => AgreementChoice::None,
        1 => mine.pop().map_or(AgreementChoice::None, AgreementChoice::One),
        _ => AgreementChoice::Several(mine),
    }
}

/// Auto-matched accounts become mappings; the agreement is chosen only when the company has
/// exactly one active agreement.
pub fn mappings_for(
    vendor: &str,
    matched: &[(String, i64)],
    accounts: &[VendorAccount],
    companies: &[PsaCompany],
    agreements: &[BillingContainer],
) -> Vec<AccountMapping> {
    let mut by_company: BTreeMap<i64, Vec<BillingContainer>> = BTreeMap::new();
    for a in agreements {
        by_company.entry(a.company_id).or_default().push(a.clone());
    }
    let company_name: HashMap<i64, &str> = companies.iter().map(|c| (c.id, c.name.as_str())).collect();
    let account_name: HashMap<&str, &str> =
        accounts.iter().map(|a| (a.id.as_str(), a.name.as_str())).collect();
    matched
        .iter()
        .map(|(account_id, company_id)| {
            let theirs = by_company.get(company_id).map(Vec::as_slice).unwrap_or(&[]);
            let agreement = match choose_agreement(*company_id, theirs) {
                AgreementChoice::One(a) => Some(a),
                AgreementChoice::None | AgreementChoice::Several(_) => None,
            };
            AccountMapping {
                vendor: vendor.to_string(),
                account_id: account_id.clone(),
                account_name: account_name
                    .get(account_id.as_str())
                    .map_or_else(|| account_id.clone(), |n| n.to_string()),
                company_id: *company_id,
                company_name: company_name.get(company_id).map_or_else(String::new, |n| n.to_string()),
                agreement_id: agreement.as_ref().map(|a| a.id),
                agreement_name: agreement.map(|a| a.name),
                how: MappedBy::Auto,
            }
        })
        .collect()
}

/// The accounts `vendor` listed that are neither mapped nor excluded: their usage bills
/// nobody, so the report lists them for a person. Sorted by name.
pub fn unmapped_accounts(
    vendor: &str,
    accounts: &[VendorAccount],
    mappings: &[AccountMapping],
    excluded: &[crate::model::Exclusion],
) -> Vec<crate::plan::AccountRef> {
    let decided: HashSet<&str> = mappings
        .iter()
        .filter(|m| m.vendor == vendor)
        .map(|m| m.account_id.as_str())
        .chain(excluded.iter().filter(|e| e.vendor == vendor).map(|e| e.account_id.as_str()))
        .collect();
    let mut out: Vec<crate::plan::AccountRef> = accounts
        .iter()
        .filter(|a| !decided.contains(a.id.as_str()))
        .map(|a| crate::plan::AccountRef {
            vendor: vendor.to_string(),
            id: a.id.clone(),
            name: a.name.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    out
}

/// An account neither mapped nor excluded that the vendor reports usage for: nobody bills it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnbilledAccount {
    pub vendor: String,
    pub id: String,
    pub name: String,
    /// Its units of every service, added up.
    pub quantity: u64,
}

/// Of the `unmapped` accounts (one vendor's, from [`unmapped_accounts`]), those with usage in
/// `usage`, in the same order.
pub fn unbilled(unmapped: &[crate::plan::AccountRef], usage: &[crate::model::Usage]) -> Vec<UnbilledAccount> {
    let mut units: HashMap<&str, u64> = HashMap::new();
    for row in usage {
        *units.entry(row.account_id.as_str()).or_default() += u64::from(row.quantity);
    }
    unmapped
        .iter()
        .filter_map(|a| {
            let quantity = units.get(a.id.as_str()).copied().filter(|q| *q > 0)?;
            Some(UnbilledAccount {
                vendor: a.vendor.clone(),
                id: a.id.clone(),
                name: a.name.clone(),
                quantity,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbilled_accounts_are_unmapped_ones_with_usage() {
        let refs: Vec<crate::plan::AccountRef> = [("1", "Acme"), ("2", "Beta"), ("3", "Gamma")]
            .iter()
            .map(|(id, name)| crate::plan::AccountRef {
                vendor: "nodeware".into(),
                id: id.to_string(),
                name: name.to_string(),
            })
            .collect();
        let usage = |account: &str, service: &str, quantity: u32| crate::model::Usage {
            account_id: account.into(),
            service_key: service.into(),
            quantity,
            ..Default::default()
        };
        let rows = [usage("1", "vms", 4), usage("1", "other", 2), usage("2", "vms", 0), usage("9", "vms", 7)];
        let got = unbilled(&refs, &rows);
        assert_eq!(got.iter().map(|a| (a.name.as_str(), a.quantity)).collect::<Vec<_>>(), [("Acme", 6)]);
    }

    #[test]
    fn the_benchmark_company_names_stay_unique_once_normalized() {
        let names: std::collections::HashSet<String> =
            (0..25_000).map(|i| normalize_name(&recon_sandbox::scale::company_name(i))).collect();
        assert_eq!(names.len(), 25_000);
    }

    fn account(id: &str, name: &str) -> VendorAccount {
        VendorAccount {
            id: id.to_string(),
            name: name.to_string(),
            status: None,
            raw: serde_json::Value::Null,
        }
    }

    fn company(id: i64, identifier: &str, name: &str) -> PsaCompany {
        PsaCompany { id, identifier: identifier.to_string(), name: name.to_string() }
    }

    fn agreement(id: i64, company_id: i64, name: &str) -> BillingContainer {
        BillingContainer {
            id,
            name: name.to_string(),
            company_id,
            type_name: None,
            parent_id: None,
            number: None,
            aliases: Vec::new(),
        }
    }

    fn mapped(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unmapped_accounts_are_those_neither_mapped_nor_excluded() {
        let accounts =
            [account("1", "Zeta"), account("2", "Acme"), account("3", "Internal"), account("4", "Beta")];
        let mapping = AccountMapping {
            vendor: "nodeware".into(),
            account_id: "2".into(),
            account_name: "Acme".into(),
            company_id: 7,
            company_name: "Acme".into(),
            agreement_id: None,
            agreement_name: None,
            how: MappedBy::Auto,
        };
        // A mapping of another vendor with the same id decides nothing here.
        let other = AccountMapping { vendor: "huntress".into(), account_id: "4".into(), ..mapping.clone() };
        let excluded = crate::model::Exclusion {
            vendor: "nodeware".into(),
            account_id: "3".into(),
            account_name: "Internal".into(),
            reason: Some("our own".into()),
        };
        let got = unmapped_accounts("nodeware", &accounts, &[mapping, other], &[excluded]);
        let names: Vec<&str> = got.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["Beta", "Zeta"]);
        assert!(got.iter().all(|a| a.vendor == "nodeware"));
    }

    #[test]
    fn normalize_name_table() {
        let cases = [
            ("Acme Dental", "acme dental"),
            ("  Acme   Dental  ", "acme dental"),
            ("ACME\tDental\n", "acme dental"),
            ("Acme\u{00A0}Dental", "acme dental"),
            ("Café", "café"),
            ("Cafe\u{0301}", "café"),
            ("ÉCOLE", "école"),
            ("O'Brien \"Best\" Shop", "o'brien \"best\" shop"),
            ("Acme Dental, Inc.", "acme dental, inc."),
            ("", ""),
            ("   ", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_name(input), want, "{input:?}");
        }
    }

    #[test]
    fn auto_match_table() {
        struct Case {
            name: &'static str,
            accounts: Vec<VendorAccount>,
            companies: Vec<PsaCompany>,
            mapped: HashSet<String>,
            want: MatchOutcome,
        }
        let acme = || company(1, "Acme", "Acme Dental");
        let cases = vec![
            Case {
                name: "exact name",
                accounts: vec![account("a1", "Acme Dental")],
                companies: vec![acme()],
                mapped: mapped(&[]),
                want: MatchOutcome { matched: vec![("a1".into(), 1)], ..Default::default() },
            },
            Case {
                name: "case, spaces and trailing spaces",
                accounts: vec![account("a1", "  ACME   dental ")],
                companies: vec![acme()],
                mapped: mapped(&[]),
                want: MatchOutcome { matched: vec![("a1".into(), 1)], ..Default::default() },
            },
            Case {
                name: "composed and decomposed accents are the same name",
                accounts: vec![account("a1", "Cafe\u{0301} Rouge")],
                companies: vec![company(2, "Cafe", "Café Rouge")],
                mapped: mapped(&[]),
                want: MatchOutcome { matched: vec![("a1".into(), 2)], ..Default::default() },
            },
            Case {
                name: "quotes must match exactly",
                accounts: vec![account("a1", "Bob's \"Best\" Shop"), account("a2", "Bobs Best Shop")],
                companies: vec![company(3, "Bobs", "Bob's \"Best\" Shop")],
                mapped: mapped(&[]),
                want: MatchOutcome {
                    matched: vec![("a1".into(), 3)],
                    unmatched: vec!["a2".into()],
                    ..Default::default()
                },
            },
            Case {
                name: "accent stripped is only a suggestion",
                accounts: vec![account("a1", "Cafe Rouge")],
                companies: vec![company(2, "Cafe", "Café Rouge")],
                mapped: mapped(&[]),
                want: MatchOutcome { unmatched: vec!["a1".into()], ..Default::default() },
            },
            Case {
                name: "legal suffix is only a suggestion",
                accounts: vec![account("a1", "Acme Dental, Inc.")],
                companies: vec![acme()],
                mapped: mapped(&[]),
                want: MatchOutcome { unmatched: vec!["a1".into()], ..Default::default() },
            },
            Case {
                name: "two companies share the name",
                accounts: vec![account("a1", "Summit Dental")],
                companies: vec![
                    company(251, "SummitDentalSouth", "Summit Dental"),
                    company(250, "SummitDentalNorth", "summit  dental"),
                ],
                mapped: mapped(&[]),
                want: MatchOutcome {
                    ambiguous_company: vec![("a1".into(), vec![250, 251])],
                    ..Default::default()
                },
            },
            Case {
                name: "two accounts share the name",
                accounts: vec![account("a2", "Acme Dental"), account("a1", "ACME DENTAL")],
                companies: vec![acme()],
                mapped: mapped(&[]),
                want: MatchOutcome {
                    ambiguous_account: vec!["a1".into(), "a2".into()],
                    ..Default::default()
                },
            },
            Case {
                name: "two accounts share a name no company has",
                accounts: vec![account("a2", "Nobody"), account("a1", "nobody")],
                companies: vec![acme()],
                mapped: mapped(&[]),
                want: MatchOutcome { unmatched: vec!["a1".into(), "a2".into()], ..Default::default() },
            },
            Case {
                name: "already mapped is left alone, and still makes the name shared",
                accounts: vec![account("a1", "Acme Dental"), account("a2", "Acme Dental")],
                companies: vec![acme()],
                mapped: mapped(&["a1"]),
                want: MatchOutcome { ambiguous_account: vec!["a2".into()], ..Default::default() },
            },
            Case {
                name: "already mapped never appears",
                accounts: vec![account("a1", "Acme Dental"), account("a3", "Other")],
                companies: vec![acme()],
                mapped: mapped(&["a1", "a3"]),
                want: MatchOutcome::default(),
            },
            Case {
                name: "the same account or company listed twice counts once",
                accounts: vec![account("a1", "Acme Dental"), account("a1", "Acme Dental")],
                companies: vec![acme(), acme()],
                mapped: mapped(&[]),
                want: MatchOutcome { matched: vec![("a1".into(), 1)], ..Default::default() },
            },
            Case {
                name: "an empty name matches nothing",
                accounts: vec![account("a1", "  ")],
                companies: vec![company(9, "Blank", "")],
                mapped: mapped(&[]),
                want: MatchOutcome { unmatched: vec!["a1".into()], ..Default::default() },
            },
            Case {
                name: "mixed, sorted by account id",
                accounts: vec![
                    account("z", "Zeta"),
                    account("b", "Beta"),
                    account("a", "Alpha"),
                    account("y", "Nope"),
                ],
                companies: vec![company(3, "Z", "Zeta"), company(1, "A", "Alpha"), company(2, "B", "beta")],
                mapped: mapped(&[]),
                want: MatchOutcome {
                    matched: vec![("a".into(), 1), ("b".into(), 2), ("z".into(), 3)],
                    unmatched: vec!["y".into()],
                    ..Default::default()
                },
            },
        ];
        for case in cases {
            let got = auto_match(&case.accounts, &case.companies, &case.mapped, &HashSet::new());
            assert_eq!(got, case.want, "{}", case.name);
        }
    }

    #[test]
    fn auto_match_never_pairs_what_a_person_unmapped() {
        let accounts = vec![account("a1", "Acme Dental"), account("a2", "Beta")];
        let companies = vec![company(1, "Acme", "Acme Dental"), company(2, "B", "Beta")];
        let refused = |pairs: &[(&str, i64)]| pairs.iter().map(|(a, c)| (a.to_string(), *c)).collect();
        type Case = (&'static str, HashSet<(String, i64)>, MatchOutcome);
        let cases: Vec<Case> = vec![
            (
                "the unmapped pair is refused, the others still match",
                refused(&[("a1", 1)]),
                MatchOutcome {
                    matched: vec![("a2".into(), 2)],
                    refused: vec![("a1".into(), 1)],
                    ..Default::default()
                },
            ),
            (
                "a refusal of another company does not stop this match",
                refused(&[("a1", 2)]),
                MatchOutcome { matched: vec![("a1".into(), 1), ("a2".into(), 2)], ..Default::default() },
            ),
        ];
        for (name, refused, want) in cases {
            assert_eq!(auto_match(&accounts, &companies, &HashSet::new(), &refused), want, "{name}");
        }
    }

    #[test]
    fn auto_match_ten_thousand_each() {
        let n = 10_000;
        let companies: Vec<PsaCompany> =
            (0..n).map(|i| company(i, &format!("C{i}"), &format!("Customer Number {i}"))).collect();
        // Every third account has a company; the others are named differently.
        let accounts: Vec<VendorAccount> = (0..n)
            .map(|i| {
                let name = if i % 3 == 0 { format!("customer  number {i}") } else { format!("Other {i}") };
                account(&format!("acc-{i}"), &name)
            })
            .collect();
        let already = mapped(&["acc-0", "acc-3"]);
        let got = auto_match(&accounts, &companies, &already, &HashSet::new());
        let expected_matched = (0..n).filter(|i| i % 3 == 0).count() - 2;
        assert_eq!(got.matched.len(), expected_matched);
        assert_eq!(got.unmatched.len(), (0..n).filter(|i| i % 3 != 0).count());
        assert!(got.ambiguous_account.is_empty() && got.ambiguous_company.is_empty());
        assert!(got.matched.iter().all(|(acc, id)| *acc == format!("acc-{id}")));
    }

    #[test]
    fn levenshtein_table() {
        let cases = [
            ("", "", 0),
            ("abc", "", 3),
            ("", "abc", 3),
            ("kitten", "sitting", 3),
            ("flaw", "lawn", 2),
            ("same", "same", 0),
        ];
        for (a, b, want) in cases {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            assert_eq!(bounded_levenshtein(&a, &b, usize::MAX), Some(want), "{a:?} {b:?}");
            assert_eq!(bounded_levenshtein(&a, &b, want), Some(want), "{a:?} {b:?}");
            if want > 0 {
                assert_eq!(bounded_levenshtein(&a, &b, want - 1), None, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn similarity_table() {
        let cases: &[(&str, &str, u8, u8)] = &[
            // (a, b, min score, max score)
            ("Acme Dental, Inc.", "ACME Dental", 100, 100),
            ("Acme Dental LLC", "Acme Dental L.L.C.", 100, 100),
            ("Acme Dental Pty Ltd", "Acme Dental", 100, 100),
            ("Acme Dental GmbH", "acme dental", 100, 100),
            ("Acme Corporation", "Acme Corp.", 100, 100),
            ("Acme Co", "ACME", 100, 100),
            ("Smith & Sons", "Smith and Sons", 100, 100),
            ("Smith & Co", "Smith", 100, 100),
            ("Café Rouge", "Cafe Rouge", 100, 100),
            ("Zürich Versicherung AG", "Zurich Versicherung", 100, 100),
            ("O'Brien Plumbing", "OBrien Plumbing", 100, 100),
            ("O’Brien Plumbing", "O'Brien Plumbing", 100, 100),
            ("  Acme   Dental  ", "acme-dental", 100, 100),
            ("AcmeDental", "Acme Dental", 100, 100),
            ("Dental Acme", "Acme Dental", 99, 99),
            ("Acme Dentl", "Acme Dental", 85, 99),
            ("Summit Dental", "Summit Dental Group", 60, 80),
            ("Acme Dental", "Zenith Plumbing", 0, 40),
            ("", "Acme", 0, 0),
            ("Inc", "Inc", 100, 100),
        ];
        for (a, b, lo, hi) in cases {
            let got = similarity(a, b);
            assert!((*lo..=*hi).contains(&got), "{a:?} vs {b:?}: {got} not in {lo}..={hi}");
            assert_eq!(similarity(b, a), got, "symmetric: {a:?} vs {b:?}");
        }
    }

    #[test]
    fn suggestions_rank_and_filter() {
        let companies = vec![
            company(1, "AcmeDental", "ACME Dental"),
            company(2, "AcmeDentistry", "Acme Dentistry"),
            company(3, "Zenith", "Zenith Plumbing"),
            company(4, "SmithSons", "Smith and Sons"),
            company(5, "CafeRouge", "Café Rouge"),
            company(6, "AcmeDental2", "Acme Dental"),
        ];
        let got = suggest("Acme Dental, Inc.", &companies, 3);
        let ids: Vec<i64> = got.iter().map(|s| s.company_id).collect();
        assert_eq!(ids, vec![1, 6, 2], "{got:?}");
        assert_eq!(got[0].score, 100);
        assert_eq!(got[1].score, 100);
        assert!(got[2].score >= SUGGESTION_THRESHOLD && got[2].score < 100);

        let index = CompanyIndex::new(&companies);
        assert_eq!(index.len(), 6);
        let cases: &[(&str, &[i64])] = &[
            ("Smith & Sons Ltd", &[4]),
            ("CAFE ROUGE", &[5]),
            ("Zenith Plumbing Co.", &[3]),
            ("Nothing Like It", &[]),
            // Matches through the identifier.
            ("AcmeDentistry", &[2]),
        ];
        for (name, want) in cases {
            let got: Vec<i64> = index.suggest(name, 1).iter().map(|s| s.company_id).collect();
            assert_eq!(got, *want, "{name}");
        }
        assert!(index.suggest("Acme Dental", 0).is_empty());
        assert!(index.suggest("Nothing Like It", 10).iter().all(|s| s.score >= SUGGESTION_THRESHOLD));
    }

    fn summit() -> Vec<PsaCompany> {
        vec![
            company(250, "SummitDentalNorth", "Summit Dental"),
            company(251, "SummitDentalSouth", "Summit Dental"),
            company(12, "AcmeDental", "Acme Dental"),
            company(7, "7", "Seven Seas"),
            company(300, "1234", "Numbered Identifier Ltd"),
        ]
    }

    #[test]
    fn resolve_company_table() {
        let companies = summit();
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("12", Ok(12)),
            (" 250 ", Ok(250)),
            ("acmedental", Ok(12)),
            ("SUMMITDENTALSOUTH", Ok(251)),
            ("  acme   DENTAL ", Ok(12)),
            // An id wins over an identifier with the same text.
            ("7", Ok(7)),
            // A number that is no id falls back to identifiers.
            ("1234", Ok(300)),
            (
                "Summit Dental",
                Err("company \"Summit Dental\" is ambiguous: 2 companies have that name: \
                     Summit Dental (SummitDentalNorth, id 250), Summit Dental (SummitDentalSouth, id 251); \
                     use the identifier or id"),
            ),
            ("Acme Dentl", Err("company \"Acme Dentl\" not found; closest: Acme Dental (AcmeDental, id 12)")),
            ("Xyzzy", Err("company \"Xyzzy\" not found; give a name, identifier or id")),
            ("999", Err("company \"999\" not found; give a name, identifier or id")),
        ];
        for (reference, want) in cases {
            let got = resolve_company(reference, &companies).map(|c| c.id).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_string), "{reference:?}");
        }
        let err = resolve_company("Summit Dental", &companies).err();
        assert!(
            matches!(err, Some(Unresolved::Ambiguous { kind: RefKind::Company, ref candidates, .. }) if candidates.len() == 2)
        );
    }

    #[test]
    fn resolve_account_table() {
        let accounts = vec![
            account("org-1", "Acme Dental"),
            account("org-2", "Summit"),
            account("org-3", "summit "),
            account("42", "Answer Inc"),
        ];
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("org-1", Ok("org-1")),
            ("42", Ok("42")),
            ("ACME dental", Ok("org-1")),
            ("answer inc", Ok("42")),
            (
                "Summit",
                Err(
                    "account \"Summit\" is ambiguous: 2 accounts have that name: Summit (id org-2), summit  (id org-3); use the id",
                ),
            ),
            ("Acme Dentl", Err("account \"Acme Dentl\" not found; closest: Acme Dental (id org-1)")),
            ("ORG-1", Err("account \"ORG-1\" not found; give a name or id")),
        ];
        for (reference, want) in cases {
            let got = resolve_account(reference, &accounts).map(|a| a.id.as_str()).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_string), "{reference:?}");
        }
    }

    #[test]
    fn resolve_agreement_table() {
        let agreements =
            vec![agreement(5, 1, "Managed Services"), agreement(6, 1, "Backup"), agreement(7, 1, "backup")];
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("5", Ok(5)),
            ("managed  services", Ok(5)),
            (
                "Backup",
                Err(
                    "agreement \"Backup\" is ambiguous: 2 agreements have that name: Backup (id 6), backup (id 7); use the id",
                ),
            ),
            (
                "Managed Service",
                Err("agreement \"Managed Service\" not found; closest: Managed Services (id 5)"),
            ),
            // Nothing close: every agreement of the company is a candidate.
            (
                "99",
                Err(
                    "agreement \"99\" not found; closest: Backup (id 6), Managed Services (id 5), backup (id 7)",
                ),
            ),
            (
                "Services",
                Err(
                    "agreement \"Services\" not found; closest: Managed Services (id 5), Backup (id 6), backup (id 7)",
                ),
            ),
        ];
        for (reference, want) in cases {
            let got = resolve_agreement(reference, &agreements, "agreement")
                .map(|a| a.id)
                .map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_string), "{reference:?}");
        }
    }

    #[test]
    fn choose_agreement_table() {
        let all = vec![
            agreement(9, 1, "B"),
            agreement(5, 1, "A"),
            agreement(6, 2, "Only"),
            agreement(6, 2, "Only"),
        ];
        assert_eq!(choose_agreement(2, &all), AgreementChoice::One(agreement(6, 2, "Only")));
        assert_eq!(choose_agreement(3, &all), AgreementChoice::None);
        assert_eq!(
            choose_agreement(1, &all),
            AgreementChoice::Several(vec![agreement(5, 1, "A"), agreement(9, 1, "B")])
        );
    }
}
