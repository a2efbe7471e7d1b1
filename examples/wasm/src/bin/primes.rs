//! How many primes lie in a range, by trial division (deliberately CPU-bound).
//! Input: `k`, the range [k·100000, (k+1)·100000) (none: k = 0), or `[from, to]`. Output:
//! the count.
//! Its JavaScript twin is `examples/primes.js`.

const CHUNK: u64 = 100_000;

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

fn main() {
    let input = pws_wasm_tasks::input();
    let (from, to) = match pws_wasm_tasks::integers(&input).as_deref() {
        _ if input.is_empty() || input == "null" => (0, CHUNK),
        Some([k]) => (k * CHUNK, (k + 1) * CHUNK),
        Some([from, to]) => (*from, *to),
        _ => {
            eprintln!("expected k or [from, to], got {input:?}");
            std::process::exit(2);
        }
    };
    println!("{}", (from..to).filter(|&n| is_prime(n)).count());
}
