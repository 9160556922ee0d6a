#!/usr/bin/env bash
# `make demo`: a real hub, two real external clusters and the admission webhook on loopback, then
# the story of kubectl-extcluster told with the plugin, each command printed before it runs.
#
#   hack/demo.sh        start the sandbox, walk through the story (`make demo` builds first)
#   hack/demo.sh down   stop everything the sandbox started (`make demo-down`)
#
# SANDBOX_DIR (default .sandbox) holds the kubeconfigs; the sandbox keeps running afterwards so
# you can keep playing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${SANDBOX_DIR:-$root/.sandbox}
target=${CARGO_TARGET_DIR:-$root/target}

if [ "${1:-}" = down ]; then
  if [ -x "$target/debug/sandbox" ]; then exec "$target/debug/sandbox" down --dir "$dir"; fi
  echo "nothing to stop: the sandbox was never built" >&2
  exit 0
fi

bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'
[ -t 1 ] || { bold=""; dim=""; off=""; }
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }

if [ ! -x "$target/debug/sandbox" ]; then
  echo "the sandbox is not built: run \`make demo\`, which builds everything first" >&2
  exit 1
fi

# A demo that fails part way stops what it started; one that finishes leaves the sandbox to play.
finished=
stop_on_failure() {
  [ -n "$finished" ] && return
  echo "the demo stopped part way: stopping the sandbox it started" >&2
  "$target/debug/sandbox" down --dir "$dir" >/dev/null 2>&1 ||
    echo "could not stop it; run \`make demo-down\`" >&2
}
trap stop_on_failure EXIT

say "Starting the sandbox: a hub, external clusters eks-prod (v1.29.3-eks-adc7111), legacy (v1.18.20) and edge (trusting the hub's own identity), the webhook, the controller"
"$target/debug/sandbox" down --dir "$dir" >/dev/null 2>&1 || true
"$target/debug/sandbox" up --dir "$dir"

export KUBECONFIG="$dir/hub.kubeconfig"
export PATH="$target/debug:$(dirname "$(bash hack/kube-bins.sh kubectl)"):$PATH"
ext="$dir/eks-prod.kubeconfig"
legacy="$dir/legacy.kubeconfig"
edge="$dir/edge.kubeconfig"
show_ext=${ext#"$root/"}
show_legacy=${legacy#"$root/"}
show_edge=${edge#"$root/"}

# Prints a command as it would be typed: arguments with spaces or shell characters quoted.
show() {
  local out="$" a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./=:,+@-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
  done
  printf '%s%s%s\n' "$dim" "$out" "$off"
}

# Runs a command, printed first; `expect_fail` for the ones the hub must refuse.
run() {
  show "$@"
  "$@"
}
expect_fail() {
  show "$@"
  if "$@"; then
    echo "!! this should have been refused" >&2
    exit 1
  fi
  echo "   (refused, as it should be)"
}

say "The hub knows the ExternalCluster API"
run kubectl get crd externalclusters.extcluster.io

say "Register eks-prod with full permission (import); the plugin probes it first"
run kubectl extcluster import prod-eks --from-kubeconfig "$show_ext" --display-name "Production EU"

say "List and describe it: version, nodes and state come from the cluster itself"
run kubectl extcluster list
run kubectl extcluster describe prod-eks

say "Register the same cluster again under another name: the hub refuses (same kube-system UID)"
expect_fail kubectl extcluster connect prod-eks-copy --from-kubeconfig "$show_ext"

say "Register a cluster that runs Kubernetes 1.18: outside the accepted range, refused"
expect_fail kubectl extcluster connect legacy --from-kubeconfig "$show_legacy"

say "Plain kubectl is held to the same rules: deleting an imported cluster is refused"
expect_fail kubectl delete externalcluster prod-eks

say "Declare what the cluster can do (checked against each capability's type)"
run kubectl extcluster annotate prod-eks taintSupport=true 'ingressCapabilities=[{"ingressProvider":"Nginx"}]'
expect_fail kubectl annotate externalcluster prod-eks capabilities.extcluster.io/pspEnabled=maybe
run kubectl get externalcluster prod-eks -o jsonpath='{.metadata.annotations}'

say "Other tools find it as a ClusterProfile (multicluster.x-k8s.io), published by the controller, no credentials in it"
for i in $(seq 120); do
  kubectl get clusterprofile prod-eks -n extcluster-inventory >/dev/null 2>&1 && break
  sleep 0.5
done
run kubectl get clusterprofiles -n extcluster-inventory
echo

say "Disconnect it: the registration and its kubeconfig Secret go; the cluster itself is untouched"
run kubectl extcluster disconnect prod-eks --yes
run kubectl --kubeconfig "$show_ext" get nodes

say "Federated: edge trusts the hub's own ServiceAccount issuer (the sandbox gave its API server the flags this prints)"
run kubectl extcluster trust edge --from-kubeconfig "$show_edge"

say "Register it with no credential stored: each use mints a 10-minute token of the hub identity extcluster-system/edge"
run kubectl extcluster register edge --federated --from-kubeconfig "$show_edge" --trust-apply
run kubectl extcluster describe edge
show kubectl get secret edge-kubeconfig -n extcluster-system -o jsonpath='{.data.kubeconfig}' '|' base64 -d
kubectl get secret edge-kubeconfig -n extcluster-system -o jsonpath='{.data.kubeconfig}' | base64 -d

say "Register it again, so there is something to play with"
run kubectl extcluster import prod-eks --from-kubeconfig "$show_ext"
run kubectl extcluster list -o wide

# Waits (up to two minutes) until prod-eks's phase is $1, then shows the list.
wait_phase() {
  local i
  for i in $(seq 240); do
    if kubectl extcluster list | awk '$1 == "prod-eks" {print $5}' | grep -qx "$1"; then
      run kubectl extcluster list
      return 0
    fi
    sleep 0.5
  done
  echo "!! prod-eks did not become $1" >&2
  kubectl extcluster describe prod-eks >&2 || true
  exit 1
}

say "The controller keeps the registry true: eks-prod's API server goes dark"
run sandbox outage --dir "${dir#"$root/"}"
echo "   (the controller probes every 5 s here; two failures in a row make it Unreachable)"
wait_phase Unreachable
run kubectl get events -n kube-system --field-selector involvedObject.name=prod-eks

say "It comes back: Running again on the first probe that answers"
run sandbox recover --dir "${dir#"$root/"}"
wait_phase Running

finished=1
cat <<HINT

${bold}The sandbox keeps running.${off} To keep playing:

  export KUBECONFIG=$dir/hub.kubeconfig
  export PATH=$target/debug:\$PATH
  kubectl extcluster list
  kubectl extcluster describe prod-eks
  kubectl extcluster refresh --all

External clusters: $dir/eks-prod.kubeconfig, $dir/legacy.kubeconfig, $dir/edge.kubeconfig
Webhook log: $(cat "$dir/webhook.log.path")
Controller log: $(cat "$dir/controller.log.path")
Stop everything: make demo-down
HINT
