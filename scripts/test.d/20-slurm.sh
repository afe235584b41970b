# Sourced by scripts/test.sh (bash -euo pipefail): start the project's
# one-machine Slurm (scripts/slurm/start.sh) and export where the Slurm
# driver's tests find it. Without root or Debian packages the Slurm tests
# skip locally; in CI (env CI set) a Slurm that cannot start fails the run.
gf_slurm_setup() {
  local out
  if [ "$(id -u)" != 0 ]; then
    echo "slurm: not root, cannot install or start Slurm" >&2
    return 1
  fi
  out=$(bash scripts/slurm/start.sh) || return 1
  eval "$out"
}
if gf_slurm_setup; then
  GF_CLEANUP+=("GF_SLURM_DIR=$GF_TEST_SLURM_DIR bash scripts/slurm/stop.sh")
  echo "slurm: up at $GF_TEST_SLURM_URL (state in $GF_TEST_SLURM_DIR)"
elif [ -n "${CI:-}" ]; then
  echo "slurm: setup FAILED and CI is set: not skipping the Slurm tests" >&2
  # stop whatever half-started
  bash scripts/slurm/stop.sh || true
  false
else
  echo "slurm: setup failed; Slurm tests will skip (set CI to make this fatal)" >&2
  bash scripts/slurm/stop.sh || true
fi
unset -f gf_slurm_setup
