//! The few runtime services the network code needs — spawning, sleeping, ticking — on tokio
//! for native peers and on the page's event loop in a browser.

use std::future::Future;
use std::time::Duration;

pub use web_time::Instant;

/// Run `future` in the background on the current runtime.
#[cfg(not(target_arch = "wasm32"))]
pub fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(future);
}

/// Run `future` in the background on the page's event loop.
#[cfg(target_arch = "wasm32")]
pub fn spawn(future: impl Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(future);
}

#[cfg(not(target_arch = "wasm32"))]
pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

#[cfg(target_arch = "wasm32")]
pub async fn sleep(duration: Duration) {
    futures_timer::Delay::new(duration).await;
}

/// A [`timeout`] that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// `future`'s output, or [`Elapsed`] if it takes longer than `limit`.
pub async fn timeout<T>(limit: Duration, future: impl Future<Output = T>) -> Result<T, Elapsed> {
    let future = std::pin::pin!(future);
    let expiry = std::pin::pin!(sleep(limit));
    match futures::future::select(future, expiry).await {
        futures::future::Either::Left((output, _)) => Ok(output),
        futures::future::Either::Right(((), _)) => Err(Elapsed),
    }
}

/// Fires every `period`, the first time at once; missed ticks are not made up.
pub struct Ticker {
    period: Duration,
    next: Instant,
}

impl Ticker {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            next: Instant::now(),
        }
    }

    pub async fn tick(&mut self) {
        let now = Instant::now();
        if self.next > now {
            sleep(self.next - now).await;
        }
        self.next = (self.next + self.period).max(Instant::now());
    }
}
