# Sourced by scripts/test.sh (bash, set -euo pipefail). Makes sure node and
# npm are on PATH: internal/api's TestOpenAPIValidates runs the OpenAPI 3.1
# validator of internal/api/testdata/openapi-check (npm ci, then node).
#
# Does nothing when both are there. Otherwise installs Debian's nodejs and
# npm (root only). Without them the test skips locally; in CI (CI=true) it
# fails, so a failed install here is fatal only in CI.

gf_node_setup() {
  if command -v node >/dev/null && command -v npm >/dev/null; then
    echo "node: $(node --version), npm $(npm --version)"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "node: not root, cannot install nodejs and npm" >&2
    return 1
  fi
  echo "node: installing Debian's nodejs and npm"
  # A colleague's apt may hold the dpkg lock: wait and retry.
  local try
  for try in 1 2 3 4 5 6; do
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; then
      break
    fi
    echo "node: apt-get failed (try $try; dpkg lock held?), retrying in 10 s" >&2
    sleep 10
  done
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "node: could not install nodejs and npm" >&2
    return 1
  fi
  echo "node: $(node --version), npm $(npm --version)"
}

if ! gf_node_setup; then
  if [ "${CI:-}" = true ]; then
    echo "node: setup FAILED and CI is set: the OpenAPI validation would not run" >&2
    false
  fi
  echo "node: missing; TestOpenAPIValidates will skip (set CI=true to make this fatal)" >&2
fi
unset -f gf_node_setup
