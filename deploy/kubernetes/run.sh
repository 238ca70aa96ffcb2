#!/usr/bin/env bash
# Grade a class on Kubernetes and tell the truth about it: run the Indexed Job of
# grade-job.yaml, wait until it is complete OR failed, merge with merge-job.yaml,
# and exit non-zero when anything failed.
#
#   SHARDS=8 deploy/kubernetes/run.sh          grade, merge, report (from the repository)
#   SHARDS=8 deploy/kubernetes/run.sh render   print the two manifests, filled in
#
# SHARDS (default 8) is the one place for the number of shards: it fills in the
# manifests' completions, parallelism and the merge's --shards. ASSIGNMENT (default
# softsign) names the assignment; TIMEOUT (seconds, default 10800) bounds each wait.
# kubectl must point at the cluster and namespace that hold the volume claim
# "softsign-course".
#
# A Job cannot be applied twice, so a run first deletes the Jobs of the last one
# (and their pods); their results are already in the course folder. By hand that is
#   kubectl delete job softsign-grade softsign-grade-merge --ignore-not-found
#
# Exit status: 0 every student graded and merged; 1 some students could not be
# graded (the logs printed name them and say why; the others are merged), a shard
# failed, or the merge did; 2 bad settings or a wait that timed out.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SHARDS="${SHARDS:-8}"
ASSIGNMENT="${ASSIGNMENT:-softsign}"
TIMEOUT="${TIMEOUT:-10800}"
GRADE_JOB=softsign-grade
MERGE_JOB=softsign-grade-merge

fail() {
    echo "run.sh: $*" >&2
    exit 2
}

[[ "$SHARDS" =~ ^[1-9][0-9]*$ ]] || fail "SHARDS must be a positive whole number, not '$SHARDS'"
[[ "$ASSIGNMENT" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] ||
    fail "ASSIGNMENT must be an nbgrader assignment id (letters, digits, _ . -), not '$ASSIGNMENT'"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || fail "TIMEOUT must be a number of seconds, not '$TIMEOUT'"

render() {  # render FILE: the manifest with ${SHARDS} and ${ASSIGNMENT} filled in
    sed -e "/^[[:space:]]*#/!s/\${SHARDS}/$SHARDS/g" \
        -e "/^[[:space:]]*#/!s/\${ASSIGNMENT}/$ASSIGNMENT/g" "$here/$1"
}

# wait_for JOB: 0 once it is Complete, 1 once it has Failed, 2 after TIMEOUT seconds.
# (`kubectl wait --for=condition=complete` alone would sit out the timeout on a failure.)
wait_for() {
    local job="$1" deadline=$((SECONDS + TIMEOUT)) conditions
    while true; do
        conditions="$(kubectl get job "$job" \
            -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')"
        case " $conditions " in
            *" Complete "*) return 0 ;;
            *" Failed "*) return 1 ;;
        esac
        if ((SECONDS >= deadline)); then
            echo "run.sh: job/$job has not ended after $TIMEOUT s; it is still running" >&2
            return 2
        fi
        sleep 10
    done
}

# show_failed_pods JOB: the end of each failed pod's log (the grader's summary).
show_failed_pods() {
    local pod
    for pod in $(kubectl get pods -l "job-name=$1" --field-selector=status.phase=Failed -o name); do
        echo "----- $pod (failed) -----"
        kubectl logs "$pod" --tail=40 || true
    done
}

case "${1:-run}" in
    render)
        render grade-job.yaml
        echo ---
        render merge-job.yaml
        exit 0
        ;;
    run) ;;
    *) fail "usage: run.sh [run|render]" ;;
esac

command -v kubectl >/dev/null || fail "kubectl is not on PATH"
kubectl delete job "$GRADE_JOB" "$MERGE_JOB" --ignore-not-found --cascade=foreground --wait=true
render grade-job.yaml | kubectl apply -f -
echo "run.sh: grading $ASSIGNMENT in $SHARDS shards; waiting for job/$GRADE_JOB"
graded=0
wait_for "$GRADE_JOB" || graded=$?
if ((graded == 2)); then
    exit 2
fi
if ((graded == 1)); then
    failed="$(kubectl get job "$GRADE_JOB" -o jsonpath='{.status.failedIndexes}')"
    echo "run.sh: job/$GRADE_JOB failed (pod indexes ${failed:-?}, shard = index + 1):" >&2
    show_failed_pods "$GRADE_JOB" >&2
fi

# Merge whatever was graded, even after a failure: the merge names every failed student.
render merge-job.yaml | kubectl apply -f -
merged=0
wait_for "$MERGE_JOB" || merged=$?
kubectl logs "job/$MERGE_JOB" || true
if ((merged == 2)); then
    exit 2
fi
if ((graded != 0 || merged != 0)); then
    echo "run.sh: FAILED: some students are not graded (see above); fix them and run again:" \
        "only new, changed and failed submissions are graded again." >&2
    exit 1
fi
echo "run.sh: every student graded and merged into gradebook.db"
