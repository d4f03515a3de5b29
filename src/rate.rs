//! The request rate to one host, found rather than guessed (AIMD, as TCP finds a link's
//! capacity): start near the ceiling, cut the rate by a factor on a 429 and wait out its
//! `Retry-After`, raise it by a step for every quiet second, never above the ceiling. The
//! PSA is shared with the MSP's other integrations, so the allowance moves; this follows it.
//!
//! Pure: every method takes the time, so a test can drive it through a scripted sequence.

use std::time::{Duration, Instant};

/// Where a new controller starts, as a share of its ceiling.
const START: f64 = 0.9;
/// The cut on a 429: the rate is multiplied by this (once per episode of 429s).
const DECREASE: f64 = 0.8;
/// The raise per quiet second, as a share of the ceiling (1,000/min -> +4/min a second).
const INCREASE_PER_SECOND: f64 = 0.004;
/// How long after a 429 the rate stays where the cut put it.
const QUIET: Duration = Duration::from_secs(5);
/// Never slower than this share of the ceiling (nor below one request a minute).
const FLOOR: f64 = 0.05;
/// A 429 without `Retry-After` waits this long.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);
/// Within one episode, each further 429 doubles the pause (from `DEFAULT_WAIT`) up to this:
/// a server whose window is over-full (its allowance just fell) is not asked every second.
const MAX_EPISODE_WAIT: Duration = Duration::from_secs(8);

/// How one paced host went in a run: its ceiling, where the rate settled (its value at the
/// end), the lowest it went, and the 429s it answered. Kept in the run record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostRate {
    pub service: String,
    pub ceiling: u32,
    pub settled: u32,
    pub lowest: u32,
    pub throttled: u64,
}

#[derive(Debug, Clone)]
pub struct RateController {
    ceiling: f64,
    rate: f64,
    /// The earliest time the next request may go.
    next: Instant,
    /// A 429 was seen and no request has succeeded since: one episode, one cut.
    in_episode: bool,
    /// The pauses of this episode so far (each 429 that came after the last pause ended).
    episode_pauses: u32,
    /// The end of the last pause a 429 called for.
    paused_until: Option<Instant>,
    /// The last 429, or the last raise: raises are counted from here.
    last_change: Instant,
    last_throttle: Option<Instant>,
    lowest: f64,
    /// The first pause of a 429 without `Retry-After` (doubling within an episode).
    default_wait: Duration,
}

impl RateController {
    /// A controller for a host that allows at most `ceiling` requests a minute.
    pub fn new(ceiling: u32, now: Instant) -> RateController {
        let ceiling = f64::from(ceiling.max(1));
        let rate = ceiling * START;
        RateController {
            ceiling,
            rate,
            next: now,
            in_episode: false,
            episode_pauses: 0,
            paused_until: None,
            last_change: now,
            last_throttle: None,
            lowest: rate,
            default_wait: DEFAULT_WAIT,
        }
    }

    /// A host whose window is long (Halo: 300 requests per rolling 5 minutes) and whose 429s
    /// may say nothing of when to come back: pause this long on such a 429, doubling once.
    pub fn with_default_wait(mut self, wait: Duration) -> RateController {
        self.default_wait = wait.max(DEFAULT_WAIT);
        self
    }

    /// Requests a minute, now.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The lowest rate it went down to.
    pub fn lowest(&self) -> f64 {
        self.lowest
    }

    pub fn ceiling(&self) -> f64 {
        self.ceiling
    }

    /// The end of the pause the last 429 called for, if it is still ahead of `now`.
    pub fn paused_until(&self, now: Instant) -> Option<Instant> {
        self.paused_until.filter(|p| *p > now)
    }

    /// Reserve the next send time: requests are spaced evenly at the current rate, however
    /// many workers share the host. The caller sleeps until the returned instant.
    pub fn reserve(&mut self, now: Instant) -> Instant {
        self.raise(now);
        let slot = self.next.max(now);
        self.next = slot + Duration::from_secs_f64(60.0 / self.rate);
        slot
    }

    /// A request was answered (anything but a 429): the episode, if any, is over.
    pub fn succeeded(&mut self, now: Instant) {
        self.in_episode = false;
        self.episode_pauses = 0;
        self.raise(now);
    }

    /// A 429: nobody sends until `retry_after` has passed, and the first 429 of an episode
    /// cuts the rate (the others of the same burst were already in flight).
    pub fn throttled(&mut self, now: Instant, retry_after: Option<Duration>) {
        // A 429 for a request sent after the last pause ended: the server is still full,
        // so this pause is longer than the last (never shorter than Retry-After).
        if self.paused_until.is_none_or(|p| now >= p) {
            self.episode_pauses += 1;
        }
        let doubled = self.default_wait.saturating_mul(1 << self.episode_pauses.saturating_sub(1).min(4));
        let doubled = doubled.min(MAX_EPISODE_WAIT.max(self.default_wait.saturating_mul(2)));
        // `Retry-After: 0` is the server saying "now": no pause is added to it.
        let wait = match retry_after {
            Some(r) if r.is_zero() => r,
            Some(r) => r.max(doubled),
            None => doubled,
        };
        let resume = now + wait;
        let resume = self.paused_until.map_or(resume, |p| p.max(resume));
        self.paused_until = Some(resume);
        self.next = self.next.max(resume);
        if !self.in_episode {
            self.rate = (self.rate * DECREASE).max(self.floor());
            self.lowest = self.lowest.min(self.rate);
            self.in_episode = true;
        }
        self.last_change = now;
        self.last_throttle = Some(now);
    }

    fn floor(&self) -> f64 {
        (self.ceiling * FLOOR).max(1.0)
    }

    /// The additive raise: for every second past `QUIET` since the last 429 (or raise).
    fn raise(&mut self, now: Instant) {
        // Not while 429s go unanswered by a success: the server has not said it has room.
        if self.rate >= self.ceiling || self.in_episode {
            return;
        }
        let quiet_from = self.last_throttle.map_or(self.last_change, |t| (t + QUIET).max(self.last_change));
        let Some(quiet) = now.checked_duration_since(quiet_from) else { return };
        let seconds = quiet.as_secs_f64();
        if seconds < 1.0 {
            return;
        }
        let whole = seconds.floor();
        self.rate = (self.rate + self.ceiling * INCREASE_PER_SECOND * whole).min(self.ceiling);
        self.last_change = quiet_from + Duration::from_secs_f64(whole);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_long_window_host_waits_its_default_on_a_429_without_retry_after() {
        let t0 = Instant::now();
        let mut c = RateController::new(55, t0).with_default_wait(secs(30.0));
        c.throttled(t0, None);
        assert!(c.reserve(t0 + secs(1.0)) >= t0 + secs(30.0), "the first pause is the default");
        let t1 = t0 + secs(31.0);
        c.throttled(t1, None);
        assert!(c.reserve(t1) >= t1 + secs(60.0), "then doubled");
        let t2 = t1 + secs(61.0);
        c.throttled(t2, None);
        let slot = c.reserve(t2);
        assert!(slot >= t2 + secs(60.0) && slot < t2 + secs(61.0), "never past twice the default");
        // A Retry-After still wins when it is longer.
        let mut c = RateController::new(55, t0).with_default_wait(secs(30.0));
        c.throttled(t0, Some(secs(90.0)));
        assert!(c.reserve(t0) >= t0 + secs(90.0));
    }

    #[test]
    fn a_scripted_sequence_of_429s_and_quiet_periods() {
        let t0 = Instant::now();
        let mut c = RateController::new(1_000, t0);
        assert_eq!(c.rate(), 900.0, "starts near the ceiling");

        // Quiet from the start: +4/min a second up to the ceiling, never past it.
        c.succeeded(t0 + secs(10.0));
        assert!((c.rate() - 940.0).abs() < 1e-9, "{}", c.rate());
        c.succeeded(t0 + secs(100.0));
        assert_eq!(c.rate(), 1_000.0);

        // A burst of 429s (one episode): one cut, and nobody sends before Retry-After.
        let t1 = t0 + secs(120.0);
        c.throttled(t1, Some(secs(2.0)));
        c.throttled(t1 + secs(0.01), Some(secs(2.0)));
        c.throttled(t1 + secs(0.02), Some(secs(3.0)));
        assert_eq!(c.rate(), 800.0, "cut once for the episode");
        assert!(c.reserve(t1 + secs(0.05)) >= t1 + secs(3.02), "waits out the longest Retry-After");

        // Within QUIET after the 429 the rate holds; after it, it climbs again.
        c.succeeded(t1 + secs(4.0));
        assert_eq!(c.rate(), 800.0);
        c.succeeded(t1 + secs(15.5));
        assert!((c.rate() - 840.0).abs() < 1e-9, "10 quiet seconds past QUIET: {}", c.rate());

        // A second episode after a success cuts again, down to the floor at most.
        for i in 0..40 {
            let t = t1 + secs(20.0 + f64::from(i));
            c.throttled(t, None);
            c.succeeded(t + secs(0.5));
        }
        assert_eq!(c.rate(), 50.0, "never below 5 % of the ceiling");
        assert_eq!(c.lowest(), 50.0);
    }

    #[test]
    fn an_over_full_server_is_asked_less_and_less_often_until_it_answers() {
        let t0 = Instant::now();
        let mut c = RateController::new(1_000, t0);
        let mut t = t0;
        let mut pauses = Vec::new();
        for _ in 0..6 {
            // Each request is sent when the last pause ends, and meets another 429.
            let sent = c.reserve(t);
            c.throttled(sent, Some(secs(1.0)));
            let resume = c.reserve(sent);
            pauses.push(resume.duration_since(sent).as_secs_f64().round());
            t = resume;
        }
        assert_eq!(pauses, [1.0, 2.0, 4.0, 8.0, 8.0, 8.0], "doubling up to 8 s, never under Retry-After");
        assert_eq!(c.rate(), 720.0, "one episode, one cut");
        c.succeeded(t);
        let sent = c.reserve(t);
        c.throttled(sent, Some(secs(1.0)));
        assert_eq!(
            c.reserve(sent).duration_since(sent).as_secs_f64().round(),
            1.0,
            "a new episode starts at 1 s"
        );
    }

    #[test]
    fn requests_are_spaced_at_the_rate_whoever_asks() {
        let t0 = Instant::now();
        let mut c = RateController::new(600, t0);
        // 540/min: one every 1/9 s, for several workers asking at once.
        let slots: Vec<Instant> = (0..4).map(|_| c.reserve(t0)).collect();
        for pair in slots.windows(2) {
            let gap = pair[1].duration_since(pair[0]).as_secs_f64();
            assert!((gap - 60.0 / 540.0).abs() < 1e-6, "{gap}");
        }
    }
}
