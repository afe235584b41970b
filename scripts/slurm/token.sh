#!/usr/bin/env bash
# token.sh [LIFESPAN_SECONDS] - print a fresh JWT for the test cluster that
# start.sh runs, as "SLURM_JWT=...". Used as the Slurm driver's
# token_command in tests; needs root (scontrol token for another user).
set -euo pipefail
DIR=${GF_SLURM_DIR:-/tmp/gf-slurm}
unset SLURM_JWT
exec env SLURM_CONF="$DIR/etc/slurm.conf" scontrol token \
	username="${GF_SLURM_USER:-gfslurm}" lifespan="${1:-${GF_SLURM_TOKEN_LIFESPAN:-3600}}"
