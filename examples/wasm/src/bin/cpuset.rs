//! The benchmarks' CPU task set (the JavaScript one is in `pws-node/benches/shared/cpu_set.rs`)
//! written in Rust, built both as WebAssembly and natively to compare the two. Input: the
//! task's name (`"sum"`, `"fib"`, `"sort"`, `"json"`, `"string"`); it runs the task five
//! times and answers `{"result": …, "micros": <fastest run>}`.

use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};

fn sum() -> f64 {
    let mut s = 0.0;
    for i in 0..black_box(10_000_000u64) {
        s += i as f64;
    }
    s
}

fn fib(n: u32) -> u64 {
    if n < 2 { n as u64 } else { fib(n - 1) + fib(n - 2) }
}

fn sort() -> f64 {
    let mut x: f64 = 1.0;
    let mut a: Vec<f64> = (0..100_000)
        .map(|_| {
            x = (x * 1103515245.0 + 12345.0) % 2147483648.0;
            x
        })
        .collect();
    a.sort_by(|p, q| p.total_cmp(q));
    a[0]
}

#[derive(Serialize, Deserialize)]
struct Item {
    id: u32,
    name: String,
    tags: Vec<String>,
}

fn json() -> usize {
    let items: Vec<Item> = (0..20_000)
        .map(|i| Item {
            id: i,
            name: format!("n{i}"),
            tags: vec!["a".into(), "b".into()],
        })
        .collect();
    let text = serde_json::to_string(&items).expect("serializes");
    serde_json::from_str::<Vec<Item>>(&text).expect("parses").len()
}

fn string() -> usize {
    let mut s = String::new();
    for _ in 0..black_box(200_000) {
        s.push('x');
    }
    s.len()
}

fn main() {
    let input = pws_wasm_tasks::input();
    let name = input.trim_matches('"');
    let task = || -> serde_json::Value {
        match name {
            "sum" => sum().into(),
            "fib" => fib(black_box(27)).into(),
            "sort" => sort().into(),
            "json" => json().into(),
            "string" => string().into(),
            other => {
                eprintln!("unknown task {other:?}");
                std::process::exit(2);
            }
        }
    };
    let (mut result, mut fastest) = (serde_json::Value::Null, u128::MAX);
    for _ in 0..5 {
        let started = Instant::now();
        result = black_box(task());
        fastest = fastest.min(started.elapsed().as_micros());
    }
    println!("{}", serde_json::json!({"result": result, "micros": fastest}));
}
