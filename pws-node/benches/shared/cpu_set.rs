//! The CPU-bound task set the benchmarks time: Boa against node here, and Boa in a browser
//! (wasm) against native Boa in `tests/benches/browser.rs`. Each entry is a function body.

pub const CPU_SET: &[(&str, &str)] = &[
    (
        "sum loop 1e7",
        "let s = 0; for (let i = 0; i < 1e7; i++) s += i; return s;",
    ),
    (
        "recursive fib(27)",
        "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); } return fib(27);",
    ),
    (
        "sort 1e5 numbers",
        "const a = []; let x = 1; for (let i = 0; i < 1e5; i++) { x = (x * 1103515245 + 12345) % 2147483648; a.push(x); } a.sort((p, q) => p - q); return a[0];",
    ),
    (
        "JSON round trip, 20k objects",
        "const a = []; for (let i = 0; i < 20000; i++) a.push({id: i, name: 'n' + i, tags: ['a', 'b']}); return JSON.parse(JSON.stringify(a)).length;",
    ),
    (
        "string building, 200k +=",
        "let s = ''; for (let i = 0; i < 200000; i++) s += 'x'; return s.length;",
    ),
];
