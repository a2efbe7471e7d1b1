//! What a node measures of its work, for Prometheus (beside what its network measures,
//! [`pws_net::metrics`]): tasks by outcome, how long they ran, slots busy and total, how
//! often a worker had to be replaced (recorded from the work loop's [`Report`]s), and the
//! node process's live heap (read at each scrape).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::work::Report;

pub struct NodeMetrics {
    tasks: Family<OutcomeLabel, Counter>,
    duration: Histogram,
    slots_busy: Gauge,
    slots_total: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    /// `ok`, or the error kind the task ended with.
    outcome: &'static str,
}

impl NodeMetrics {
    /// Register a node's metrics in `registry`, with `worker_restarts` counted by its pool.
    pub fn register(registry: &mut Registry, worker_restarts: Counter) -> Self {
        let pws = registry.sub_registry_with_prefix("pws");
        let metrics = Self {
            tasks: Family::default(),
            // 1 ms to ~9 minutes: a trivial task to one at a generous time limit.
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            slots_busy: Gauge::default(),
            slots_total: Gauge::default(),
        };
        pws.register("tasks", "Tasks run, by outcome", metrics.tasks.clone());
        pws.register_with_unit(
            "task_duration",
            "How long tasks ran, whatever their outcome",
            Unit::Seconds,
            metrics.duration.clone(),
        );
        pws.register(
            "slots_busy",
            "Slots running work",
            metrics.slots_busy.clone(),
        );
        pws.register("slots", "Slots in all", metrics.slots_total.clone());
        pws.register_collector(Box::new(Heap));
        pws.register(
            "worker_restarts",
            "Task workers replaced after a task overran, was cancelled or killed its worker",
            worker_restarts,
        );
        metrics
    }

    pub fn record(&self, report: &Report) {
        match report {
            Report::Finished { error, elapsed } => {
                let outcome = error.map_or("ok", |kind| kind.as_str());
                self.tasks.get_or_create(&OutcomeLabel { outcome }).inc();
                self.duration.observe(elapsed.as_secs_f64());
            }
            Report::Status(status) => {
                let total = i64::from(status.total_slots);
                self.slots_total.set(total);
                self.slots_busy.set(total - i64::from(status.free_slots));
            }
            Report::Listening(_) | Report::Relay(_) | Report::Registered => {}
        }
    }
}

/// The live heap of the node's own process (its network loop; tasks run in workers), as the
/// counting allocator ([`crate::memory`]) knows it: what it holds, unlike its RSS, which
/// also counts what the allocator keeps after it was freed.
#[derive(Debug)]
struct Heap;

impl Collector for Heap {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let heap = ConstGauge::new(crate::memory::in_use() as i64);
        let metric = encoder.encode_descriptor(
            "heap",
            "Live heap of the node process (its tasks run in worker processes)",
            Some(&Unit::Bytes),
            heap.metric_type(),
        )?;
        heap.encode(metric)
    }
}
