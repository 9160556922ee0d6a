#!/usr/bin/env bash
# Builds real Kubernetes control-plane binaries from Debian's own `kubernetes` source package and
# caches them outside the checkout, so only the first run on a machine pays (4-6 minutes on 2 cores).
#
#   hack/kube-bins.sh                 build (or find) kube-apiserver and kube-controller-manager;
#                                     prints the directory that holds them
#   hack/kube-bins.sh kubectl         the machine's kubectl, or one built from the same source
#   hack/kube-bins.sh apiserver VER   a kube-apiserver that reports gitVersion VER (e.g.
#                                     v1.29.3-eks-adc7111); prints its path. Seconds once warm.
#
# Everything lands under ${EXTCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/extcluster}.
set -euo pipefail

cache="${EXTCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/extcluster}"
kube="$cache/kube"
bin="$kube/bin"
gopath="$kube/gopath"
tree="$gopath/src/k8s.io/kubernetes"
mkdir -p "$kube"

log() { printf '[kube-bins] %s\n' "$*" >&2; }

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# One builder at a time: tests run in parallel and may all ask for the same binary.
exec 9>"$kube/.lock"
flock 9

install_build_deps() {
  local need=()
  command -v go >/dev/null || need+=(golang-go)
  command -v etcd >/dev/null || need+=(etcd-server)
  command -v rsync >/dev/null || need+=(rsync)
  command -v openssl >/dev/null || need+=(openssl)
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need+=(golang-github-modern-go-reflect2-dev)
  command -v dpkg-source >/dev/null || need+=(dpkg-dev)
  if [ ${#need[@]} -gt 0 ] || ! apt_has_sources; then
    enable_deb_src
    log "installing ${need[*]:-nothing new} (apt)"
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    [ ${#need[@]} -eq 0 ] || sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

apt_has_sources() {
  grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ || grep -qs '^deb-src' /etc/apt/sources.list
}

# Derive a deb-src entry from the machine's own Debian sources; no mirror host is written here.
enable_deb_src() {
  apt_has_sources && return 0
  local f=/etc/apt/sources.list.d/debian.sources
  if [ -f "$f" ]; then
    sed -e 's/^Types: deb$/Types: deb-src/' "$f" | sudo_ tee /etc/apt/sources.list.d/extcluster-deb-src.sources >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | sudo_ tee /etc/apt/sources.list.d/extcluster-deb-src.list >/dev/null
  else
    log "no Debian apt sources found; cannot fetch the kubernetes source package"
    exit 1
  fi
}

fetch_source() {
  [ -f "$tree/Makefile" ] && return 0
  log "fetching Debian's kubernetes source package"
  local work="$kube/src"
  rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && apt-get source -qq kubernetes >/dev/null 2>&1)
  local dir
  dir=$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -n1)
  [ -n "$dir" ] || { log "apt-get source kubernetes gave no tree"; exit 1; }
  # reflect2 1.0.1 crashes (SIGSEGV in map iteration) under Debian's Go 1.19; 1.0.2 does not.
  rm -rf "$dir/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$dir/vendor/github.com/modern-go/reflect2"
  rm -f "$dir/vendor/github.com/modern-go/reflect2/go.mod"
  mkdir -p "$(dirname "$tree")"
  ln -sfn "$dir" "$tree"
}

build_base() {
  if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ]; then return 0; fi
  install_build_deps
  fetch_source
  log "building kube-apiserver and kube-controller-manager from source (first time only: about 5 minutes)"
  (
    cd "$tree"
    export GOPATH="$gopath" CGO_ENABLED=0 GOFLAGS=-mod=vendor
    local start=$SECONDS
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >"$kube/build.log" 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      sleep 15
      kill -0 "$pid" 2>/dev/null && log "still building... $((SECONDS - start))s"
    done
    wait "$pid" || { log "build failed; see $kube/build.log"; tail -20 "$kube/build.log" >&2; exit 1; }
  )
  mkdir -p "$bin"
  cp "$tree/_output/local/bin/linux/$(go env GOARCH)/kube-apiserver" "$tree/_output/local/bin/linux/$(go env GOARCH)/kube-controller-manager" "$bin/"
  log "built $bin"
}

# kube-apiserver that reports another gitVersion: relinked in GOPATH mode with the version
# variables set, for both copies of the version package the server reads.
build_apiserver_version() {
  local ver=$1
  [[ $ver =~ ^v?[0-9]+\.[0-9]+[A-Za-z0-9.+_-]*$ ]] || { log "not a version string: $ver"; exit 2; }
  local out="$kube/versions/$ver/kube-apiserver"
  if [ -x "$out" ]; then echo "$out"; return 0; fi
  build_base
  local num=${ver#v}
  local major=${num%%.*}
  local rest=${num#*.}
  local minor=${rest%%[!0-9]*}
  local flags="" p
  for p in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    flags+=" -X $p.gitVersion=$ver -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  mkdir -p "$(dirname "$out")"
  log "linking kube-apiserver reporting $ver"
  (
    # The same GOPATH, cache and trimpath flags as the make build, so every package is a cache hit
    # and only the link runs again.
    local root
    root=$(cd "$tree" && pwd -P)
    cd "$root"
    export GOPATH="$root/_output/local/go" GOCACHE="$root/_output/local/go/cache" GO111MODULE=off CGO_ENABLED=0
    go build -o "$out.tmp" -gcflags "-trimpath=$root" -asmflags "-trimpath=$root" \
      -ldflags "-s -w $flags" k8s.io/kubernetes/cmd/kube-apiserver
  )
  mv "$out.tmp" "$out"
  echo "$out"
}

# kubectl: the machine's own when it has one, else built from the same source tree.
find_kubectl() {
  if command -v kubectl >/dev/null; then command -v kubectl; return 0; fi
  if [ ! -x "$bin/kubectl" ]; then
    build_base
    log "no kubectl on PATH; building it from the same source"
    (cd "$tree" && GOPATH="$gopath" CGO_ENABLED=0 make WHAT=cmd/kubectl >>"$kube/build.log" 2>&1)
    cp "$tree/_output/local/bin/linux/$(go env GOARCH)/kubectl" "$bin/"
  fi
  echo "$bin/kubectl"
}

case "${1:-base}" in
  base) build_base; echo "$bin" ;;
  apiserver) build_apiserver_version "${2:?usage: kube-bins.sh apiserver VERSION}" ;;
  kubectl) find_kubectl ;;
  deps) install_build_deps ;;
  *) log "usage: kube-bins.sh [base | apiserver VERSION | kubectl | deps]"; exit 2 ;;
esac
