// Array processing: sums [1, 2, 3, 4, 5] and prints 15.
function() {
  return [1, 2, 3, 4, 5].reduce((total, n) => total + n, 0);
}
