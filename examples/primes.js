// How many primes lie in a range, by trial division: the JavaScript twin of primes.wasm.
// Input: k, the range [k*100000, (k+1)*100000), or [from, to]. Without one: k = 0, 9592.
function(input) {
  const [from, to] = Array.isArray(input)
    ? input
    : [(input ?? 0) * 100000, ((input ?? 0) + 1) * 100000];
  let count = 0;
  for (let n = Math.max(from, 2); n < to; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}
