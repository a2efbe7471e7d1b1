// Sum of the integers below 1000: prints 499500.
function() {
  let sum = 0;
  for (let i = 0; i < 1000; i++) {
    sum += i;
  }
  return sum;
}
