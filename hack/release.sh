#!/usr/bin/env bash
# Builds the kubectl-extcluster archive for each target this toolchain can build, and renders the
# krew manifest for them into dist/ (or --out DIR).
#
#   hack/release.sh                      release build for every installed Rust target
#   hack/release.sh --bin PATH           package an already built binary (for the host) instead
#   hack/release.sh --out DIR
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist
prebuilt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --bin) prebuilt=$2; shift 2 ;;
    *) echo "usage: hack/release.sh [--out DIR] [--bin PATH]" >&2; exit 2 ;;
  esac
done
version="v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
base_uri="https://github.com/extcluster/kubectl-extcluster/releases/download/$version"
host=$(rustc -vV | sed -n 's/^host: //p')
installed=$(rustup target list --installed 2>/dev/null || echo "$host")
mkdir -p "$out"

# Prints the platform block for one target, or nothing when it cannot be built here.
platform() {
  local os=$1 arch=$2 target=$3 exe=kubectl-extcluster bin
  [ "$os" = windows ] && exe=kubectl-extcluster.exe
  if [ -n "$prebuilt" ]; then
    [ "$target" = "$host" ] || return 0
    bin=$prebuilt
  else
    grep -qx "$target" <<<"$installed" || return 0
    cargo build --release --locked -q -p kubectl-extcluster --target "$target" >&2
    bin="target/$target/release/$exe"
  fi
  local name="kubectl-extcluster_${version}_${os}_${arch}"
  local stage
  stage=$(mktemp -d)
  cp "$bin" "$stage/$exe"
  cp LICENSE "$stage/LICENSE"
  # Reproducible: fixed order, owner and times.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -czf "$out/$name.tar.gz" "$exe" LICENSE
  rm -rf "$stage"
  local sum
  sum=$(sha256sum "$out/$name.tar.gz" | cut -d' ' -f1)
  echo "$name.tar.gz" >>"$out/archives.txt"
  printf 'uri: %s/%s.tar.gz\n    sha256: %s\n    bin: %s\n    files:\n    - from: %s\n      to: .\n    - from: LICENSE\n      to: .' \
    "$base_uri" "$name" "$sum" "$exe" "$exe"
}

: >"$out/archives.txt"
lines=()
skip=0
while IFS= read -r line; do
  [[ $line =~ ^# ]] && continue
  if [[ $line =~ \{\{PLATFORM\ ([a-z]+)\ ([a-z0-9]+)\ ([a-z0-9_-]+)\}\} ]]; then
    block=$(platform "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}")
    if [ -z "$block" ]; then
      # Not buildable here: drop the two selector lines just added for it.
      unset 'lines[-1]' 'lines[-1]'
      lines=("${lines[@]}")
      skip=$((skip + 1))
    else
      lines+=("    $block")
    fi
    continue
  fi
  lines+=("${line//\{\{VERSION\}\}/$version}")
done <krew/extcluster.yaml
printf '%s\n' "${lines[@]}" >"$out/extcluster.yaml"
echo "wrote $out/extcluster.yaml ($(wc -l <"$out/archives.txt") platform(s); $skip not buildable with this toolchain)" >&2
