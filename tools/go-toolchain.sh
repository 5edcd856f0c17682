#!/usr/bin/env bash
# Prints the path of a Go toolchain of 1.23 or newer, which the seed's Kafka client
# (segmentio/kafka-go v0.4.49, built by tests/e2e/test_seed_consumers.py) needs: the machine's
# own `go` (on PATH or in /usr/local/go) when it is recent enough, else the Go distribution the Go
# module proxy serves, unpacked into the cache the first time (Debian bookworm packages Go 1.19).
set -euo pipefail

minimum=23
version=1.23.12
cache="${XDG_CACHE_HOME:-$HOME/.cache}/order-service/go-$version"

recent_enough() {
  local reported
  reported=$("$1" env GOVERSION 2>/dev/null) || return 1
  [[ $reported =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] >= minimum))
}

for candidate in "$(command -v go || true)" /usr/local/go/bin/go "$cache/bin/go"; do
  if [[ -n $candidate && -x $candidate ]] && recent_enough "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) echo "go-toolchain: no Go 1.$minimum or newer, and none served for $(uname -m)" >&2; exit 1 ;;
esac
echo "go-toolchain: no Go 1.$minimum or newer here; unpacking go$version from the Go module proxy" >&2
zip=$(mktemp --suffix .zip)
trap 'rm -f "$zip"' EXIT
curl -fsS --retry 3 -o "$zip" \
  "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$version.linux-$arch.zip"
# The module's files sit under one directory named after it; their modes are in the zip.
python3 - "$zip" "$cache" <<'PY'
import os, shutil, sys, zipfile
source, target = sys.argv[1], sys.argv[2]
partial = target + ".partial"
shutil.rmtree(partial, ignore_errors=True)
with zipfile.ZipFile(source) as archive:
    for info in archive.infolist():
        parts = info.filename.split("/", 2)
        if info.is_dir() or len(parts) < 3:
            continue
        path = os.path.join(partial, parts[2])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with archive.open(info) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.chmod(path, (info.external_attr >> 16) & 0o777 or 0o644)
shutil.rmtree(target, ignore_errors=True)
os.rename(partial, target)
PY
recent_enough "$cache/bin/go" || { echo "go-toolchain: the unpacked Go does not run" >&2; exit 1; }
echo "$cache/bin/go"
