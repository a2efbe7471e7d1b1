//! Driving the coordinator page (`/submit/`) in headless Chromium as a person would: type
//! code, click Run or Start job, read what the page shows.

use std::time::Duration;

use serde_json::json;

use crate::browser::Browser;

/// Loading ~10 MB of wasm and connecting takes a few seconds; leave room for a loaded CI.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// One task from the page: a node's answer, or `no-nodes` after the page's 10 s wait.
pub const TASK_TIMEOUT: Duration = Duration::from_secs(30);

/// The relay's coordinator page, connected to the network.
pub struct CoordinatorPage {
    pub browser: Browser,
}

impl CoordinatorPage {
    /// Open the page of the relay serving `http` (its web address) and wait until it has
    /// joined the network.
    pub fn open(http: &str) -> CoordinatorPage {
        Self::connected(Browser::open(&format!("{http}submit/")))
    }

    /// The page `browser` shows, once it has joined the network.
    pub fn connected(mut browser: Browser) -> CoordinatorPage {
        browser.wait_for(
            "the page connected",
            "document.getElementById('connection').textContent === 'connected'",
            CONNECT_TIMEOUT,
        );
        CoordinatorPage { browser }
    }

    /// Put `code` in the editor, as if typed.
    pub fn type_code(&mut self, code: &str) {
        self.browser.evaluate(&format!(
            "(() => {{ const text = document.querySelector('#editor textarea');
                text.value = {code};
                text.dispatchEvent(new Event('input', {{ bubbles: true }})); }})()",
            code = json!(code)
        ));
    }

    /// Click Run and wait for the run's entry in the history; returns the result as shown.
    pub fn run_once(&mut self) -> String {
        let runs = self
            .browser
            .evaluate("document.querySelectorAll('#history li').length");
        self.browser
            .evaluate("document.getElementById('run').click()");
        self.browser.wait_for(
            "the run's result",
            &format!("document.querySelectorAll('#history li').length > {runs}"),
            TASK_TIMEOUT,
        );
        self.browser.text_of("result")
    }

    /// The last run's round trip as the page measured it, in milliseconds.
    pub fn last_run_ms(&mut self) -> f64 {
        let shown = self.browser.text_of("result-ms");
        let number = shown.strip_suffix(" ms").unwrap_or(&shown);
        number
            .parse()
            .unwrap_or_else(|_| panic!("a time: {shown:?}"))
    }

    /// Start a job over `range` (e.g. `0..200`) and return at once.
    pub fn start_job(&mut self, range: &str) {
        self.browser.evaluate(&format!(
            "document.getElementById('range').value = {range}; \
             document.getElementById('start-job').click()",
            range = json!(range)
        ));
    }
}
