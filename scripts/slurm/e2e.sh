#!/usr/bin/env bash
# e2e.sh - issue 6's acceptance run through `gf` against the test Slurm:
#
#   1. build gf, start `gf serve` with one site whose driver is slurm
#      (the cluster of start.sh: partition gpu, 4 nodes x 4 fake h100);
#   2. submit N jobs (default 50) of mixed shapes (1-8 GPUs, 1-3 nodes) with
#      `gf submit`, each exiting with its own code;
#   3. SIGKILL `gf serve` half-way through the submissions and start it
#      again on the same data;
#   4. wait until every job ended and check its state and exit code;
#   5. check in Slurm, by the tag the driver writes into each job's
#      comment, that every Gigafactory job ran exactly once;
#   6. submit a job larger than the cluster and check gf reports a reason.
#
# Usage: sudo bash scripts/slurm/e2e.sh [N]     (starts the cluster if needed)
# Exit status 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-50}
if [ -z "${GF_TEST_SLURM_URL:-}" ]; then
	eval "$(bash scripts/slurm/start.sh)"
fi
: "${GF_TEST_SLURM_TOKEN:=$(cat "$GF_TEST_SLURM_TOKEN_FILE")}"
DIR=${GF_TEST_SLURM_DIR:-/tmp/gf-slurm}
work=$(mktemp -d /tmp/gf-e2e.XXXXXX)
tag=gfe2e$RANDOM
serve_pid=
cleanup() {
	if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then kill "$serve_pid"; fi
	# cancel what this run left in Slurm
	for id in $(slurm_jobs | python3 -c "import json,sys
for j in json.load(sys.stdin)['jobs']:
    if j['comment'].startswith('$tag:') and j['job_state'] in ('PENDING','RUNNING','CONFIGURING','SUSPENDED'): print(j['job_id'])"); do
		curl -s -o /dev/null -X DELETE -H "X-SLURM-USER-NAME: $GF_TEST_SLURM_USER" -H "X-SLURM-USER-TOKEN: $GF_TEST_SLURM_TOKEN" "$GF_TEST_SLURM_URL/slurm/v0.0.38/job/$id" || true
	done
}
trap cleanup EXIT
log() { printf '[e2e %s] %s\n' "$(date +%T)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
slurm_jobs() {
	curl -sf -H "X-SLURM-USER-NAME: $GF_TEST_SLURM_USER" -H "X-SLURM-USER-TOKEN: $GF_TEST_SLURM_TOKEN" "$GF_TEST_SLURM_URL/slurm/v0.0.38/jobs"
}

go build -o "$work/gf" ./cmd/gf
gf() { "$work/gf" --data "$work/data" "$@"; }
cat >"$work/fed.yaml" <<EOF
sites:
  - id: slurmci
    kind: factory
    country: LU
    driver: slurm
    driver_options:
      url: "$GF_TEST_SLURM_URL"
      user: "$GF_TEST_SLURM_USER"
      token_file: "$GF_TEST_SLURM_TOKEN_FILE"
      partition: gpu
      workdir: "$DIR/jobs"
      tag: "$tag"
    pools:
      - {name: gpu, model: h100, accelerators_per_node: 4, nodes: 4}
EOF
serve() {
	rm -f "$work/data/gf.addr"
	"$work/gf" serve --data "$work/data" --config "$work/fed.yaml" --listen 127.0.0.1:0 >>"$work/serve.log" 2>&1 &
	serve_pid=$!
	for _ in $(seq 100); do [ -s "$work/data/gf.addr" ] && return 0; sleep 0.1; done
	tail "$work/serve.log" >&2
	fail "gf serve did not start"
}

serve
log "gf serve $serve_pid up; tag $tag; submitting $N jobs"
shapes=("1 1" "2 1" "4 1" "3 1" "2 2" "4 2" "8 2" "3 3" "6 3" "6 2")
declare -A want
t0=$(date +%s.%N)
for ((i = 0; i < N; i++)); do
	read -r gpus nodes <<<"${shapes[i % ${#shapes[@]}]}"
	code=$((i % 5))
	id=$(gf submit -o json --gpus "$gpus" --nodes "$nodes" -- sh -c "sleep 0.$((i % 10)); exit $code" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	want[$id]=$code
	if [ "$i" = $((N / 2)) ]; then
		log "SIGKILL gf serve $serve_pid after $((i + 1)) submissions"
		kill -KILL "$serve_pid"
		wait "$serve_pid" 2>/dev/null || true
		serve
		log "gf serve restarted as $serve_pid"
	fi
done
t1=$(date +%s.%N)
log "submitted $N jobs in $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s (gf submit, one process each)"

deadline=$(($(date +%s) + 300))
while :; do
	left=$(gf jobs --all -o json | python3 -c 'import json,sys
print(sum(1 for j in json.load(sys.stdin) if j["state"] not in ("completed","failed","cancelled","timeout")))')
	[ "$left" = 0 ] && break
	[ "$(date +%s)" -lt "$deadline" ] || fail "$left jobs still not ended after 300 s"
	sleep 2
done
t2=$(date +%s.%N)
log "all ended $(awk "BEGIN{printf \"%.1f\", $t2 - $t0}") s after the first submission"

gf jobs --all -o json >"$work/jobs.json"
slurm_jobs >"$work/slurm.json"
want_list=""
for id in "${!want[@]}"; do want_list+="$id:${want[$id]},"; done
python3 - "$work/jobs.json" "$work/slurm.json" "$tag" "$want_list" <<'EOF'
import json, sys
jobs = {j["id"]: j for j in json.load(open(sys.argv[1]))}
slurm = json.load(open(sys.argv[2]))["jobs"]
tag = sys.argv[3]
want = dict((int(a), int(b)) for a, b in (p.split(":") for p in sys.argv[4].strip(",").split(",")))
bad = 0
for id, code in sorted(want.items()):
    j = jobs[id]
    state = "completed" if code == 0 else "failed"
    if j["state"] != state or j.get("exit_code") != code:
        print(f"job {id}: {j['state']} exit {j.get('exit_code')} ({j.get('reason')}), want {state} exit {code}")
        bad += 1
runs = {}
for s in slurm:
    if s["comment"].startswith(tag + ":"):
        gid = int(s["comment"].split(":")[1])
        runs.setdefault(gid, []).append(s["job_id"])
for id in want:
    if len(runs.get(id, [])) != 1:
        print(f"job {id}: {len(runs.get(id, []))} Slurm jobs {runs.get(id)}, want exactly 1")
        bad += 1
print(f"{len(want)} jobs checked, {bad} problems; Slurm jobs with the tag: {sum(len(v) for v in runs.values())}")
sys.exit(1 if bad else 0)
EOF

log "a job larger than the site"
big=$(gf submit -o json --gpus 20 --nodes 5 -- true | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' || true)
sleep 2
gf jobs --all -o json | python3 -c "import json,sys
j=[j for j in json.load(sys.stdin) if j['id']==int('${big:-0}' or 0)]
print('big job:', j[0]['state'], '-', j[0].get('reason') if j else 'refused at submission')" || log "big job refused at submission"
log "PASS"
