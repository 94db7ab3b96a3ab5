#!/usr/bin/env bash
# Give this Debian machine everything the product and its tests need, then the Python environment.
# Idempotent and quiet when everything is already there. Run as root (it uses apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc   # the virtualenv; C builds of Python packages
  debootstrap                            # the lab Asterisk root (Debian 12 ships no Asterisk)
  sip-tester                             # SIPp, the carrier side of lab calls
  chromium                               # browser tests (Playwright drives Debian's Chromium)
  util-linux iproute2 procps             # unshare, ss, ps
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Front-end libraries come from the npm registry (package.json): Debian's nodejs and npm, unless
# this machine has a Node.js with npm already (installed otherwise, e.g. from nodejs.org).
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: needs root to install: ${missing[*]} (run as root or with sudo)" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
# The product with its test extra, and the lab tools (sip_tests: SIP phones, benchmarks, drills,
# the `cti bench`, `cti drill` and `cti lab call` commands), each a distribution of its own.
# Installed again whenever either pyproject.toml is newer than the last install.
stamp=.venv/.cti-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ sip_tests/pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]' -e ./sip_tests
  touch "$stamp"
fi

# Front-end libraries: the exact versions of package-lock.json from the npm registry, bundled as
# browser modules into agent_ui/static/vendor/ (git-ignored; served by the /static mount). JsSIP
# (the agent desktop's phone) ships CommonJS only, so esbuild bundles it as an ES module; Chart.js
# (the admin console's access-number utilisation chart) is bundled with its one dependency.
vendor=agent_ui/static/vendor
if [ ! -f "$vendor/jssip.js" ] || [ ! -f "$vendor/chart.js" ] \
  || [ package-lock.json -nt "$vendor/jssip.js" ] || [ package-lock.json -nt "$vendor/chart.js" ]; then
  echo "setup: installing front-end libraries (npm ci) and bundling them into $vendor"
  npm ci --no-audit --no-fund --loglevel=error
  mkdir -p "$vendor"
  node_modules/.bin/esbuild node_modules/jssip/lib/JsSIP.js --bundle --format=esm \
    --platform=browser --minify --legal-comments=eof --log-level=warning \
    --outfile="$vendor/jssip.js"
  node_modules/.bin/esbuild node_modules/chart.js/dist/chart.js --bundle --format=esm \
    --platform=browser --minify --legal-comments=eof --log-level=warning \
    --outfile="$vendor/chart.js"
fi
