#!/usr/bin/env bash
# Third-party judges of the install manifests, as `make test` runs them: kubernetes-validate
# (--strict, against the schemas of Kubernetes 1.25 to 1.37) and checkov (its Kubernetes checks).
# The base is rendered with every component whose kinds the schemas know (cert-manager's need its
# CRDs). The judges are pinned and installed once into a virtualenv under ~/.cache; a check
# checkov fails that we accept is listed, with its reason, in hack/checkov.yaml.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/extcluster/judges"
pins=(checkov==3.3.30 kubernetes-validate==1.37.0)

if ! "$venv/bin/python" -m pip show --quiet "${pins[@]%%==*}" >/dev/null 2>&1; then
  echo "installing the manifest judges (${pins[*]}) into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
fi

kubectl="$(bash "$root/hack/kube-bins.sh" kubectl)"
work="$(mktemp -d "$root/target/judges.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cat > "$work/kustomization.yaml" <<KUSTOMIZATION
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../manifests]
components: [../../manifests/cluster-profile, ../../manifests/export-argocd, ../../manifests/export-flux]
KUSTOMIZATION
"$kubectl" kustomize "$work" > "$work/rendered.yaml"

for version in 1.25.0 1.29.0 1.33.0 1.37.0; do
  if ! out="$("$venv/bin/kubernetes-validate" --strict -k "$version" "$work/rendered.yaml" 2>&1)"; then
    grep -v "passed for resource" <<<"$out" >&2
    echo "kubernetes-validate --strict found the manifests invalid for Kubernetes $version" >&2
    exit 1
  fi
done
echo "kubernetes-validate --strict: every manifest valid for Kubernetes 1.25, 1.29, 1.33, 1.37"

# --skip-download: no call to checkov's vendor for guidelines (there is no network here).
"$venv/bin/checkov" --quiet --compact --skip-download --framework kubernetes \
  --config-file "$root/hack/checkov.yaml" -f "$work/rendered.yaml"
