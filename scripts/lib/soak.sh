# Sourced by the soak scripts (from the workspace root): build the binaries (release, or
# debug with PWS_SOAK_PROFILE=debug) into $bin, make a work directory $work (HOME and
# XDG_DATA_HOME inside it) that is removed on exit with every background process, and
# define wait_for.
profile=${PWS_SOAK_PROFILE:-release}
if [ "$profile" = release ]; then cargo build --release --bins --locked; else cargo build --bins --locked; fi
bin=target/$profile

# Wait (30 s at most) until COMMAND succeeds; WHAT names it if it never does.
wait_for() {
  local what=$1; shift
  for _ in $(seq 300); do "$@" && return 0; sleep 0.1; done
  echo "no $what within 30 s" >&2
  exit 1
}

work=$(mktemp -d)
cleanup() {
  kill -9 $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work/home" XDG_DATA_HOME="$work/home"
