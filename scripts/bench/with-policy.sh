#!/bin/sh
# Starts the broker for the shared bench (SUT_START) with a `policy:` section appended to the
# config the bench wrote (VOIDKEY_CONFIG): scripts/bench/bench-guardrails.cedar as the active
# set, and with BENCH_POLICY_OBSERVE=1 the same set again as the observe set; BENCH_POLICY=off
# starts the same build the same way without one (the other side of the comparison):
#   SUT_START='exec sh scripts/bench/with-policy.sh' bash ../shared/bench/run.sh --sut ours
#   SUT_START='BENCH_POLICY=off exec sh scripts/bench/with-policy.sh' bash ../shared/bench/run.sh --sut ours
# scripts/bench/policy-s1.sh alternates the two and prints CPU per mint for each.
# It execs the server, so the bench measures the broker's own process.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
config=${VOIDKEY_CONFIG:?VOIDKEY_CONFIG names the config the bench wrote}
if [ "${BENCH_POLICY:-on}" = off ]; then out=$config
elif grep -q '^policy:' "$config"; then echo "with-policy.sh: $config already has a policy section" >&2; exit 2
else
  out="${config%.*}.with-policy.yaml"
  cp "$config" "$out"
  printf '\npolicy:\n  active: %s\n' "$here/bench-guardrails.cedar" >> "$out"
  if [ "${BENCH_POLICY_OBSERVE:-}" = 1 ]; then printf '  observe: %s\n' "$here/bench-guardrails.cedar" >> "$out"; fi
fi
# The bench also sets CONFIG_DIR (Voidkey's folder): the server refuses two names for different configs.
unset CONFIG_DIR
VOIDKEY_CONFIG=$out
export VOIDKEY_CONFIG
node=$root/node_modules/.bin/node
[ -x "$node" ] || node=node
exec "$node" --max-semi-space-size=16 --max-old-space-size=160 --snapshot-blob "$root/dist/server/main.blob" "$root/dist/server/main.cjs"
