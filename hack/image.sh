#!/usr/bin/env bash
# Builds the webhook's and the controller's OCI images without a container engine: a statically
# linked release binary (no libc in the image) copied into an empty image with buildah, run as a
# non-root user, with the OCI labels. Writes into target/image (or --out DIR):
#   extcluster-webhook.oci.tar, extcluster-controller.oci.tar   the images (oci-archive)
#   digests.txt                                                  NAME@sha256:… for each
#   install.yaml                                                 manifests/ rendered by digest
# and prints each digest. The same commit gives the same digests: the binaries are built with
# --locked and every time in the image is the commit's.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/image
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    *) echo "usage: hack/image.sh [--out DIR]" >&2; exit 2 ;;
  esac
done

registry=ghcr.io/extcluster
images=(extcluster-webhook extcluster-controller)
user=65532:65532
# webhook: 8443 TLS (POST /validate…), 8080 plain HTTP (/healthz, /readyz, /metrics); controller: 8080.
declare -A ports=([extcluster-webhook]="8443/tcp 8080/tcp" [extcluster-controller]="8080/tcp")

missing=()
for tool in buildah skopeo umoci; do command -v "$tool" >/dev/null || missing+=("$tool"); done
# The roots for clusters whose kubeconfig names no CA (a publicly trusted certificate).
roots=/etc/ssl/certs/ca-certificates.crt
[ -f "$roots" ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

version="v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
license=$(sed -n 's/^license = "\(.*\)"/\1/p' Cargo.toml | head -n1)
source=$(sed -n 's/^repository = "\(.*\)"/\1/p' Cargo.toml | head -n1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
target=$(rustc -vV | sed -n 's/^host: //p')
case "$target" in
  x86_64-*) arch=amd64 ;;
  aarch64-*) arch=arm64 ;;
  *) echo "no image architecture for $target" >&2; exit 1 ;;
esac

# Static glibc: the glibc in Debian 12 resolves names (files, dns) without loading modules.
flags_var="CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$target")_RUSTFLAGS"
env "$flags_var=-C target-feature=+crt-static -C strip=symbols" \
  cargo build --release --locked -q --target "$target" $(printf -- '-p %s ' "${images[@]}")

mkdir -p "$out"
out=$(cd "$out" && pwd)
# buildah's own storage, thrown away afterwards: nothing is left in /var/lib/containers.
store=$(mktemp -d)
trap 'buildah --root "$store/root" --runroot "$store/run" rm --all >/dev/null 2>&1 || true; rm -rf "$store"' EXIT
bh() { buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs "$@"; }

: >"$out/digests.txt"
for name in "${images[@]}"; do
  bin="target/$target/release/$name"
  if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
    echo "$bin is dynamically linked; the image has no libc for it" >&2
    exit 1
  fi
  ref="$registry/$name:$version"
  ctr=$(bh from --quiet scratch)
  bh copy --quiet --chmod 0555 --chown 0:0 "$ctr" "$bin" "/$name" >/dev/null
  bh copy --quiet --chmod 0444 --chown 0:0 "$ctr" "$roots" "$roots" >/dev/null
  bh config --user "$user" --entrypoint "[\"/$name\"]" --cmd '' --os linux --arch "$arch" \
    --created-by "hack/image.sh" $(printf -- '--port %s ' ${ports[$name]}) \
    --label "org.opencontainers.image.title=$name" \
    --label "org.opencontainers.image.description=$(sed -n 's/^description = "\(.*\)"/\1/p' "${name#extcluster-}/Cargo.toml")" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.created=$created" \
    --label "org.opencontainers.image.source=$source" \
    --label "org.opencontainers.image.licenses=$license" \
    "$ctr"
  rm -f "$out/$name.oci.tar"
  bh commit --quiet --rm --format oci --timestamp "$epoch" "$ctr" "oci-archive:$out/$name.oci.tar:$ref" >/dev/null
  digest=$(skopeo inspect --format '{{.Digest}}' "oci-archive:$out/$name.oci.tar")
  echo "$registry/$name@$digest" >>"$out/digests.txt"
  echo "$ref  $digest  $out/$name.oci.tar"
done

# The install, each image by digest: kustomize's images transformer over manifests/.
kubectl=$(bash hack/kube-bins.sh kubectl)
overlay=$(mktemp -d "$PWD/target/image-overlay.XXXXXX")
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources: [../../manifests]"
  echo "images:"
  while IFS=@ read -r image digest; do
    printf -- '- name: %s\n  digest: %s\n' "$image" "$digest"
  done <"$out/digests.txt"
} >"$overlay/kustomization.yaml"
"$kubectl" kustomize "$overlay" >"$out/install.yaml"
rm -rf "$overlay"
echo "wrote $out/install.yaml (images by digest)" >&2
