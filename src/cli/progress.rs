//! The progress bar of a run: simulated time against the scenario's duration, the event rate
//! and an estimate of the wall time left. Only on a terminal, and never with `-q`: a log file
//! or a CI job gets the one-line summary at the end instead.

use std::io::IsTerminal;
use std::time::Instant;

use autoscale_sim::engine::SimTime;
use autoscale_sim::workload::Scenario;

pub(super) struct Progress {
    bar: indicatif::ProgressBar,
    started: Instant,
}

impl Progress {
    /// A bar for one run of `scenario`, labelled `label`; `None` when quiet or when stderr is
    /// not a terminal.
    pub(super) fn new(scenario: &Scenario, label: &str, quiet: bool) -> Option<Progress> {
        if quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(scenario.duration_ms / 1000);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:20}] {msg} · ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_prefix(label.to_string());
        Some(Progress {
            bar,
            started: Instant::now(),
        })
    }

    /// The run has reached simulated time `t` after `events` events.
    pub(super) fn update(&self, t: SimTime, events: u64) {
        let wall = self.started.elapsed().as_secs_f64();
        let rate = if wall > 0.0 {
            events as f64 / wall
        } else {
            0.0
        };
        self.bar.set_position(t.0 / 1000);
        self.bar.set_message(format!(
            "{}/{} · {:.0} events/s",
            clock(t.0 / 1000),
            clock(self.bar.length().unwrap_or(0)),
            rate
        ));
    }

    pub(super) fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// Seconds as `H:MM:SS`.
fn clock(s: u64) -> String {
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
