// Simple arithmetic: prints 4.
function() {
  return 2 + 2;
}
