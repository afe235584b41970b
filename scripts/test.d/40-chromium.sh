# Sourced by scripts/test.sh (bash, set -euo pipefail). Makes sure a headless
# Chromium is there for the browser tests (internal/browsertest and the web
# portal's end-to-end tests, driven through chromedp) and exports its path as
# GF_CHROMIUM.
#
# Does nothing when one is there. Otherwise installs Debian's chromium (root
# only). Without it the browser tests skip locally; in CI (CI=true) they
# fail, so a failed install here is fatal only in CI.

gf_chromium_find() {
  local p
  for p in "${GF_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-headless-shell; do
    if [ -n "$p" ] && [ -x "$p" ]; then
      echo "$p"
      return 0
    fi
  done
  command -v chromium 2>/dev/null
}

gf_chromium_setup() {
  local p
  if p=$(gf_chromium_find); then
    export GF_CHROMIUM="$p"
    echo "chromium: $("$p" --version 2>/dev/null || echo "$p")"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "chromium: not root, cannot install chromium" >&2
    return 1
  fi
  echo "chromium: installing Debian's chromium"
  # A colleague's apt may hold the dpkg lock: wait and retry.
  local try
  for try in 1 2 3 4 5 6; do
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
      break
    fi
    echo "chromium: apt-get failed (try $try; dpkg lock held?), retrying in 10 s" >&2
    sleep 10
  done
  if ! p=$(gf_chromium_find); then
    echo "chromium: could not install chromium" >&2
    return 1
  fi
  export GF_CHROMIUM="$p"
  echo "chromium: $("$p" --version 2>/dev/null || echo "$p")"
}

if ! gf_chromium_setup; then
  if [ "${CI:-}" = true ]; then
    echo "chromium: setup FAILED and CI is set: the browser tests would not run" >&2
    false
  fi
  echo "chromium: missing; the browser tests will skip (set CI=true to make this fatal)" >&2
fi
unset -f gf_chromium_setup gf_chromium_find
