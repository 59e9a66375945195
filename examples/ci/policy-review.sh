#!/usr/bin/env bash
# The policy review a pull request gets (docs/ci.md): validate, lint, verify the assertions, check
# the expected flows, and diff the decisions against the base branch's policy. SARIF for the
# code-scanning view goes to OUT; the summary to stdout.
#
#   examples/ci/policy-review.sh BASE_POLICY HEAD_POLICY ASSERTIONS FLOWS OUT
#
# Exit: 0 all good; 1 a check failed (invalid policy, lint error, broken assertion, unexpected
# flow); 3 all checks passed but the change newly allows requests: ask for a second review.
set -uo pipefail
if [ $# -ne 5 ]; then
  echo "usage: $0 BASE_POLICY HEAD_POLICY ASSERTIONS FLOWS OUT" >&2
  exit 2
fi
base=$1 head=$2 assertions=$3 flows=$4 out=$5
perimeter=${PERIMETER:-npx --no-install perimeter}
mkdir -p "$out"
failed=()

step() { # name, then the command; its exit code is kept
  local name=$1
  shift
  echo "::group::$name"
  "$@"
  local code=$?
  echo "::endgroup::"
  return $code
}

step validate $perimeter validate "$head" || failed+=(validate)
$perimeter validate "$head" --format sarif >"$out/validate.sarif" 2>/dev/null
step lint $perimeter lint --policy "$head" || failed+=(lint)
$perimeter lint --policy "$head" --format sarif >"$out/lint.sarif" 2>/dev/null
# What the rollout will be once enforced; `--mode enforced` would also hold today's simulate perimeters to it.
step verify $perimeter verify --policy "$head" --assert "$assertions" --mode written || failed+=(verify)
$perimeter verify --policy "$head" --assert "$assertions" --mode written --format sarif >"$out/verify.sarif" 2>/dev/null
step flows $perimeter check --policy "$head" --flows "$flows" || failed+=(flows)
step diff $perimeter diff --semantic "$base" "$head"
diff_code=$?
$perimeter diff --semantic "$base" "$head" --json >"$out/diff.json" 2>/dev/null

if [ ${#failed[@]} -gt 0 ]; then
  echo "policy review: failed: ${failed[*]}"
  exit 1
fi
case $diff_code in
  0) echo "policy review: passed; nothing newly allowed" ;;
  3) echo "policy review: passed, but the change newly allows requests (see the diff): ask for a second review"; exit 3 ;;
  *) echo "policy review: the semantic diff failed ($diff_code)"; exit 1 ;;
esac
