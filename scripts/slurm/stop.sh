#!/usr/bin/env bash
# stop.sh [--only NAME] - stop exactly the daemons scripts/slurm/start.sh
# started: it reads the PID files in $GF_SLURM_DIR/run (default
# /tmp/gf-slurm/run), checks that each PID still runs the program it
# recorded (/proc/PID/comm), cancels the cluster's jobs first (so no
# slurmstepd outlives its slurmd), then sends SIGTERM (SIGKILL after 15 s).
#   --only NAME  stop just that daemon (e.g. slurmrestd, to simulate an
#                outage; start.sh brings it back) and leave the jobs alone.
set -uo pipefail

DIR=${GF_SLURM_DIR:-/tmp/gf-slurm}
RUN=$DIR/run
export SLURM_CONF=$DIR/etc/slurm.conf
unset SLURM_JWT
ONLY=
if [ "${1:-}" = --only ]; then ONLY=${2:?--only needs a daemon name}; fi
log() { echo "[gf-slurm stop] $*" >&2; }

[ -d "$RUN" ] || { log "nothing to stop ($RUN missing)"; exit 0; }

# alive NAME: print the PID when $RUN/NAME.pid names a live, non-zombie
# process whose comm matches the recorded one
alive() {
	local f=$RUN/$1.pid pid comm
	[ -f "$f" ] || return 1
	read -r pid comm <"$f" || return 1
	[ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
	[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
	echo "$pid"
}

stop_one() {
	local name=$1 pid i
	if ! pid=$(alive "$name"); then
		[ -f "$RUN/$name.pid" ] && log "$name: not running (stale PID file removed)"
		rm -f "$RUN/$name.pid"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		alive "$name" >/dev/null || break
		sleep 0.1
	done
	if alive "$name" >/dev/null; then
		log "$name ($pid) ignored SIGTERM, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null
		sleep 0.2
	fi
	log "$name ($pid) stopped"
	rm -f "$RUN/$name.pid"
}

if [ -n "$ONLY" ]; then
	stop_one "$ONLY"
	exit 0
fi

# 1. cancel the jobs while slurmctld and the slurmds still run, so their
#    slurmstepd processes end too
if alive slurmctld >/dev/null; then
	jobs=$(squeue -h -o '%A' 2>/dev/null | tr '\n' ' ')
	if [ -n "${jobs// /}" ]; then
		log "cancelling jobs"
		# shellcheck disable=SC2086
		scancel $jobs 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			[ -z "$(squeue -h -t R,CG,PD -o '%A' 2>/dev/null)" ] && break
			sleep 0.1
		done
	fi
fi

# 2. the daemons, clients before servers
stop_one slurmrestd
for f in "$RUN"/slurmd-*.pid; do
	[ -e "$f" ] || continue
	n=${f##*/}
	stop_one "${n%.pid}"
done
stop_one slurmctld
stop_one munged
rm -f "$RUN/env" "$RUN/token"
exit 0
