#!/usr/bin/env bash
# Installs everything the build, the dev stack and the tests need, from Debian bookworm packages.
# Idempotent: packages already present are left alone. Works as root or through sudo.
set -euo pipefail

if [[ "${1:-}" == "--help" ]]; then
  echo "usage: tools/install-deps.sh [PACKAGE...]"
  echo "  install the Debian packages the project needs, and the extra ones named"
  exit 0
fi

packages=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  libpistache-dev libpqxx-dev libpq-dev librdkafka-dev
  libboost-json1.81-dev libboost1.81-dev libfmt-dev doctest-dev libssl-dev
  postgresql-15 postgresql-client-15
  kcat maven default-jre-headless python3 python3-venv time clang
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
