#!/usr/bin/env bash
# Runs every test of Gigafactory. Each file in scripts/test.d/ is sourced
# first, in name order: it installs and starts a real service the tests need
# (PostgreSQL, Slurm, Chromium) and exports where to find it; each may append
# a stop command to GF_CLEANUP, run at exit whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
GF_CLEANUP=()
cleanup() {
  local i
  for ((i=${#GF_CLEANUP[@]}-1; i>=0; i--)); do eval "${GF_CLEANUP[$i]}" || true; done
}
trap cleanup EXIT
export GOFLAGS="${GOFLAGS:-} -mod=mod"
for f in scripts/test.d/*.sh; do
  [ -e "$f" ] || continue
  echo "== setup: $f"
  # shellcheck disable=SC1090
  source "$f"
done
echo "== go vet"
go vet ./...
unformatted=$(gofmt -l cmd internal || true)
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
# The packages that use the one test Slurm (one of them stops slurmrestd
# for 30 s on purpose) run one after the other, after everything else.
serial="github.com/gigafactory/gigafactory/internal/driver/slurm github.com/gigafactory/gigafactory/cmd/gf"
parallel=$(go list ./... | grep -v -x -F -e "${serial// /$'\n'}" | tr '\n' ' ')
echo "== go test (parallel packages)"
set +e
go test -count=1 -timeout 20m $parallel 2>&1 | tee /tmp/gf-test.log
status=${PIPESTATUS[0]}
echo "== go test (packages sharing the test Slurm, one at a time)"
go test -count=1 -p 1 -timeout 20m $serial 2>&1 | tee -a /tmp/gf-test.log
s2=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] && status=$s2
echo "== suite wall time: $(( $(date +%s) - start )) s"
exit "$status"
