#!/usr/bin/env bash
# start.sh - install, configure and start a throw-away Slurm 22.05 cluster on
# this one Debian 12 machine, for Gigafactory's tests and benchmarks:
#
#   munged (own socket and key) + slurmctld + one slurmd per fake node
#   + slurmrestd (JWT auth) on a loopback port.
#
# Fake cluster (defaults): partition "gpu" = node[1-4], 4 fake h100 each;
# partition "small" = node5, 2 fake a100. Fake GPUs are /dev/null symlinks.
#
# Everything it writes lives under $GF_SLURM_DIR (default /tmp/gf-slurm):
# configuration, spools, logs, JWT key, munge key and socket, PID files.
# Only Debian packages and two system users (slurmrestd's, and the job user)
# are installed system-wide. Every daemon it starts is recorded as
# "PID COMM" in $GF_SLURM_DIR/run/NAME.pid; stop.sh stops exactly those.
#
# Idempotent: run it again and it starts only what is not running (this is
# how tests bring slurmrestd back after `stop.sh --only slurmrestd`).
# Progress goes to stderr. stdout carries only `export` lines:
#     eval "$(bash scripts/slurm/start.sh)"
# exporting GF_TEST_SLURM_URL, GF_TEST_SLURM_USER, GF_TEST_SLURM_TOKEN,
# GF_TEST_SLURM_TOKEN_FILE, GF_TEST_SLURM_TOKEN_COMMAND, GF_TEST_SLURM_DIR.
#
# Tunables (environment):
#   GF_SLURM_DIR             state directory                       [/tmp/gf-slurm]
#   GF_SLURM_REST_ADDR       slurmrestd listen address             [127.0.0.1:16820]
#   GF_SLURM_CTLD_PORT       slurmctld port                        [16817]
#   GF_SLURM_NODE_PORT_BASE  node i's slurmd listens on BASE+i     [16900]
#   GF_SLURM_USER            user jobs run as (token user)         [gfslurm]
#   GF_SLURM_TOKEN_LIFESPAN  token lifetime, seconds               [86400]
#   GF_SLURM_KEEP_STATE=1    keep jobs of a previous run (default: start clean)
#   GF_SLURM_SKIP_INSTALL=1  never run apt-get
#
# Gotchas (Slurm 22.05.8, Debian 12), learnt the hard way:
# - slurm-wlm-jwt-plugin must be installed by name.
# - slurmrestd refuses root and SlurmUser; it runs as user "slurmrestd" with
#   -s openapi/v0.0.38 (else it loads dbv0.0.38 and exits without slurmdbd).
# - A gpu gres without File= is dropped and drains the node: one /dev/null
#   symlink per fake GPU.
# - AccountingStorageTRES=gres/gpu without slurmdbd stops slurmctld.
# - Never export the token as SLURM_JWT in a shell that runs Slurm commands.
set -euo pipefail

DIR=${GF_SLURM_DIR:-/tmp/gf-slurm}
REST_ADDR=${GF_SLURM_REST_ADDR:-127.0.0.1:16820}
CTLD_PORT=${GF_SLURM_CTLD_PORT:-16817}
NODE_PORT_BASE=${GF_SLURM_NODE_PORT_BASE:-16900}
JOB_USER=${GF_SLURM_USER:-gfslurm}
TOKEN_LIFESPAN=${GF_SLURM_TOKEN_LIFESPAN:-86400}
REST_USER=slurmrestd

# The fake cluster: "partition nodes-range gpu-type gpus-per-node".
GPU_NODES=4 GPU_PER_NODE=4 SMALL_NODES=1 SMALL_PER_NODE=2
NODES=$((GPU_NODES + SMALL_NODES))

ETC=$DIR/etc RUN=$DIR/run LOG=$DIR/log CTLD=$DIR/ctld SPOOL=$DIR/spool
MUNGE=$DIR/munge FAKE_GPU=$DIR/gpu JOBS=$DIR/jobs
JWT_KEY=$CTLD/jwt_hs256.key
MUNGE_SOCKET=$MUNGE/munge.socket
export SLURM_CONF=$ETC/slurm.conf
unset SLURM_JWT

T0=$EPOCHREALTIME
log() { printf '[gf-slurm %6.2fs] %s\n' "$(awk "BEGIN{print $EPOCHREALTIME - $T0}")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (installs packages, starts daemons as other users)"

# ------------------------------------------------------------------ helpers
# pid_alive NAME: $RUN/NAME.pid ("PID COMM") names a live, non-zombie process
# whose comm is still COMM (so a recycled PID is never mistaken for ours).
pid_alive() {
	local f=$RUN/$1.pid pid comm
	[ -f "$f" ] || return 1
	read -r pid comm <"$f" || return 1
	[ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
	[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}
record() { echo "$2 $3" >"$RUN/$1.pid"; }
# wait_for SECONDS WHAT PIDNAME CMD...: retry CMD every 0.1 s; give up early
# when the daemon recorded as PIDNAME ("-": none) died.
wait_for() {
	local secs=$1 what=$2 pidname=$3
	shift 3
	local end=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		if [ "$pidname" != - ] && ! pid_alive "$pidname"; then
			log "$pidname died"
			return 1
		fi
		sleep 0.1
	done
	log "$what ready"
}

# ------------------------------------------------------------------ 1. install
PKGS="slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin munge curl"
need_install() {
	local p
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 0
	done
	return 1
}
# apt_retry ARGS...: apt-get, waiting politely while a colleague holds the dpkg lock
apt_retry() {
	local i
	for ((i = 0; i < 20; i++)); do
		if apt-get -o DPkg::Lock::Timeout=120 "$@" >>"$RUN/apt.log" 2>&1; then return 0; fi
		grep -q -i 'lock' "$RUN/apt.log" || return 1
		log "dpkg is locked by another process; retrying in 10 s"
		sleep 10
	done
	return 1
}
mkdir -p "$RUN"
chmod 0755 "$DIR" "$RUN"
if [ "${GF_SLURM_SKIP_INSTALL:-0}" != 1 ] && need_install; then
	log "installing $PKGS"
	export DEBIAN_FRONTEND=noninteractive
	# Package postinst scripts would start munge/slurmd/slurmctld with the
	# system configuration; a policy-rc.d answering 101 prevents that.
	added_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		added_policy=1
	fi
	ok=1
	if ! apt_retry install -y -q --no-install-recommends $PKGS; then
		log "install failed; apt-get update and retry"
		apt_retry update -q && apt_retry install -y -q --no-install-recommends $PKGS || ok=0
	fi
	[ $added_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
	[ $ok = 1 ] || { tail -20 "$RUN/apt.log" >&2; die "apt-get install failed; see $RUN/apt.log"; }
	log "installed $(slurmctld -V)"
fi
for b in slurmctld slurmd slurmrestd munged scontrol sinfo curl setpriv; do
	command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || die "$b not installed"
done

# ------------------------------------------------------------------ 2. users, keys, dirs
id -u "$REST_USER" >/dev/null 2>&1 ||
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$REST_USER"
id -u "$JOB_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$JOB_USER"

mkdir -p "$ETC" "$LOG" "$CTLD" "$SPOOL" "$MUNGE" "$FAKE_GPU" "$JOBS"
chmod 0755 "$ETC" "$SPOOL" "$FAKE_GPU"
chown slurm:slurm "$LOG" "$CTLD"
chmod 0755 "$LOG"
chmod 0700 "$CTLD"
chmod 1777 "$JOBS"
# munged insists on a private key and a socket directory everyone may enter.
chown munge:munge "$MUNGE"
chmod 0755 "$MUNGE"
if [ ! -s "$MUNGE/munge.key" ]; then
	dd if=/dev/urandom bs=1 count=1024 of="$MUNGE/munge.key" 2>/dev/null
fi
chown munge:munge "$MUNGE/munge.key"
chmod 0600 "$MUNGE/munge.key"
if [ ! -s "$JWT_KEY" ]; then
	dd if=/dev/urandom bs=32 count=1 of="$JWT_KEY" 2>/dev/null
fi
chown slurm:slurm "$JWT_KEY"
chmod 0600 "$JWT_KEY"
for ((g = 0; g < GPU_PER_NODE || g < SMALL_PER_NODE; g++)); do
	ln -sfn /dev/null "$FAKE_GPU/nvidia$g"
done

# ------------------------------------------------------------------ 3. configuration
SMALL_FIRST=$((GPU_NODES + 1))
new_conf=$(mktemp) new_gres=$(mktemp)
trap 'rm -f "$new_conf" "$new_gres"' EXIT
cat >"$new_conf" <<EOF
# Generated by gigafactory scripts/slurm/start.sh: a one-machine test cluster.
ClusterName=gftest
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
StateSaveLocation=$CTLD
SlurmdSpoolDir=$SPOOL/%n
SlurmctldPidFile=$RUN/slurmctld.slurmpid
SlurmdPidFile=$RUN/slurmd-%n.slurmpid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,default_queue_depth=200
KillWait=3
MinJobAge=600
MaxJobCount=100000
GresTypes=gpu
NodeName=node[1-$GPU_NODES] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[$((NODE_PORT_BASE + 1))-$((NODE_PORT_BASE + GPU_NODES))] CPUs=16 Sockets=1 CoresPerSocket=16 ThreadsPerCore=1 RealMemory=64000 Gres=gpu:h100:$GPU_PER_NODE Features=h100,largemem,highmem State=UNKNOWN
NodeName=node$SMALL_FIRST NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((NODE_PORT_BASE + SMALL_FIRST)) CPUs=8 Sockets=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=32000 Gres=gpu:a100:$SMALL_PER_NODE Features=a100 State=UNKNOWN
PartitionName=gpu Nodes=node[1-$GPU_NODES] Default=YES MaxTime=INFINITE State=UP
PartitionName=small Nodes=node$SMALL_FIRST MaxTime=INFINITE State=UP
EOF
cat >"$new_gres" <<EOF
# Generated by gigafactory scripts/slurm/start.sh
AutoDetect=off
NodeName=node[1-$GPU_NODES] Name=gpu Type=h100 File=$FAKE_GPU/nvidia[0-$((GPU_PER_NODE - 1))]
NodeName=node$SMALL_FIRST Name=gpu Type=a100 File=$FAKE_GPU/nvidia[0-$((SMALL_PER_NODE - 1))]
EOF
if ! cmp -s "$new_conf" "$ETC/slurm.conf" || ! cmp -s "$new_gres" "$ETC/gres.conf"; then
	if pid_alive slurmctld || pid_alive slurmrestd; then
		log "configuration changed: restarting what this script started"
		bash "$(dirname "$0")/stop.sh" >&2
	fi
	install -m 0644 "$new_conf" "$ETC/slurm.conf"
	install -m 0644 "$new_gres" "$ETC/gres.conf"
	log "wrote $ETC/slurm.conf and gres.conf"
fi
for ((i = 1; i <= NODES; i++)); do mkdir -p "$SPOOL/node$i"; done

# ------------------------------------------------------------------ 4. daemons
# Each daemon runs in the foreground in the background of this shell, so $!
# is the daemon itself.
munge_ok() { munge -S "$MUNGE_SOCKET" -n </dev/null 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; }
if ! pid_alive munged; then
	rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
	setpriv --reuid=munge --regid=munge --init-groups \
		/usr/sbin/munged --foreground --force --socket="$MUNGE_SOCKET" \
		--key-file="$MUNGE/munge.key" --pid-file="$MUNGE/munged.pid" \
		--log-file="$MUNGE/munged.log" --seed-file="$MUNGE/munged.seed" \
		>>"$RUN/munged.out" 2>&1 </dev/null &
	record munged $! munged
	wait_for 10 munged munged munge_ok || { tail -5 "$RUN/munged.out" "$MUNGE/munged.log" >&2 || true; die "munged did not start"; }
fi

ctld_ok() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
if ! pid_alive slurmctld; then
	ctld_ok && die "a slurmctld not started by this script answers on port $CTLD_PORT; stop it first"
	if [ "${GF_SLURM_KEEP_STATE:-0}" != 1 ] &&
		[ -n "$(find "$CTLD" -mindepth 1 -maxdepth 1 ! -name "${JWT_KEY##*/}" -print -quit)" ]; then
		# Start clean (no old jobs or job ids). Deleting thousands of job
		# script directories takes seconds: move them aside, delete later.
		trash=$(mktemp -d "$DIR/ctld.old.XXXXXX")
		find "$CTLD" -mindepth 1 -maxdepth 1 ! -name "${JWT_KEY##*/}" -exec mv -t "$trash" {} +
		nohup rm -rf "$trash" >/dev/null 2>&1 </dev/null &
	fi
	/usr/sbin/slurmctld -D -f "$SLURM_CONF" >>"$RUN/slurmctld.out" 2>&1 </dev/null &
	record slurmctld $! slurmctld
	wait_for 30 slurmctld slurmctld ctld_ok || { tail -5 "$RUN/slurmctld.out" >&2; die "slurmctld did not start; see $LOG/slurmctld.log"; }
fi

for ((i = 1; i <= NODES; i++)); do
	if ! pid_alive "slurmd-node$i"; then
		/usr/sbin/slurmd -D -f "$SLURM_CONF" -N "node$i" >>"$RUN/slurmd-node$i.out" 2>&1 </dev/null &
		record "slurmd-node$i" $! slurmd
	fi
done
nodes_up() {
	local bad
	bad=$(sinfo -h -N -o '%N %T' 2>/dev/null | awk '$2 ~ /\*|down|drain|inval|unknown|not_responding|fail/' | wc -l)
	[ "$(sinfo -h -N -o '%N' 2>/dev/null | sort -u | wc -l)" -eq "$NODES" ] && [ "$bad" -eq 0 ]
}
if ! wait_for 30 "$NODES nodes" - nodes_up; then
	scontrol update nodename="node[1-$NODES]" state=resume >/dev/null 2>&1 || true
	wait_for 15 "$NODES nodes after resume" - nodes_up ||
		{ sinfo -N -o '%N %T %E' >&2; die "nodes not idle; see $LOG/slurmd-node*.log"; }
fi

TOKEN=$(scontrol token username="$JOB_USER" lifespan="$TOKEN_LIFESPAN" | sed -n 's/^SLURM_JWT=//p')
[ -n "$TOKEN" ] || die "scontrol token failed"
umask 077
printf '%s\n' "$TOKEN" >"$RUN/token.tmp" && mv "$RUN/token.tmp" "$RUN/token"
umask 022

if ! pid_alive slurmrestd; then
	# SLURM_JWT=daemon: slurmrestd uses each client's JWT, not munge.
	env SLURM_JWT=daemon SLURM_CONF="$SLURM_CONF" setpriv --reuid="$REST_USER" --regid="$REST_USER" --clear-groups \
		/usr/sbin/slurmrestd -f "$SLURM_CONF" -s openapi/v0.0.38 -a rest_auth/jwt "$REST_ADDR" \
		>>"$RUN/slurmrestd.out" 2>&1 </dev/null &
	record slurmrestd $! slurmrestd
fi
rest_ok() {
	curl -sf -o /dev/null -H "X-SLURM-USER-NAME: $JOB_USER" -H "X-SLURM-USER-TOKEN: $TOKEN" \
		"http://$REST_ADDR/slurm/v0.0.38/ping"
}
wait_for 20 "slurmrestd on $REST_ADDR" slurmrestd rest_ok || { tail -5 "$RUN/slurmrestd.out" >&2; die "slurmrestd not answering"; }

HERE=$(cd "$(dirname "$0")" && pwd)
cat >"$RUN/env" <<EOF
GF_TEST_SLURM_URL=http://$REST_ADDR
GF_TEST_SLURM_USER=$JOB_USER
GF_TEST_SLURM_TOKEN_FILE=$RUN/token
GF_TEST_SLURM_TOKEN_COMMAND='bash $HERE/token.sh'
GF_TEST_SLURM_DIR=$DIR
GF_TEST_SLURM_PARTITION=gpu
EOF
chmod 0644 "$RUN/env"
log "cluster up: gpu=node[1-$GPU_NODES] x ${GPU_PER_NODE} h100, small=node$SMALL_FIRST x ${SMALL_PER_NODE} a100, REST http://$REST_ADDR (user $JOB_USER)"
sed 's/^/export /' "$RUN/env"
echo "export GF_TEST_SLURM_TOKEN=$TOKEN"
