//! Reading a Prometheus exposition (a node's `--metrics`, the relay's `/metrics`): where a
//! node serves it, scraping until a condition holds, and the values of samples.

use std::time::{Duration, Instant};

use crate::Node;

/// The URL of the metrics of a node started with `--metrics ADDR` (it says so on stderr).
pub fn metrics_url(node: &mut Node) -> String {
    let line = node
        .process
        .wait_for_stderr_line("its metrics address", |line| {
            line.contains("metrics at http://")
        });
    line[line.find("http://").expect("a URL")..]
        .trim()
        .to_string()
}

/// Scrape with `get` until `ready` holds (bounded): counters follow the events they count.
pub fn scrape_until(get: impl Fn() -> String, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = get();
        if ready(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the metrics did not show what was expected within 15 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the sample written exactly `name{labels}` (or `name`).
pub fn value(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(sample)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// The sum of the samples whose line (name, labels and all) `selects`; `None` if there is
/// none.
pub fn sum_of(text: &str, selects: impl Fn(&str) -> bool) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|line| !line.starts_with('#') && selects(line))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}
