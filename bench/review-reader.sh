#!/usr/bin/env bash
# bench/review-reader.sh [REVIEW.json] — instructions to read one AdmissionReview with the
# webhook's hand-written shaped reader (webhook/filtered_json) against nlohmann's SAX
# parser with a handler building the same members, the same parser with a handler
# building nothing (its lexer's floor), and nlohmann's whole-DOM parse, each
# counted by callgrind (the difference between 1 and RUNS+1 reads, divided by RUNS), and
# each reader's share of a cached admission: ADMISSION instructions, or the figure
# bench/webhook-instructions.sh gives for build/archway when ADMISSION is unset.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
program="${PROGRAM:-$root/build/bench/review_reader_bench}"
[ -x "$program" ] || { echo "bench: no $program (scripts/build.sh release builds it)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "bench: valgrind is not installed" >&2; exit 1; }
review="${1:-$root/bench/webhook_review.json}"
runs="${RUNS:-2000}"
work="$(mktemp -d /tmp/archway-bench-reader.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# total READER N: the program's instructions for N reads (start-up included).
total() {
  valgrind --tool=callgrind --callgrind-out-file="$work/out" "$program" "$1" "$review" "$2" >/dev/null 2>"$work/log"
  callgrind_annotate "$work/out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

if [ -z "${ADMISSION:-}" ]; then
  ADMISSION="$("$root/bench/webhook-instructions.sh" "$root/build/archway" 2>/dev/null | awk '/per cached admission/ { print $5 }')"
fi
echo "review: $review ($(wc -c <"$review") bytes); a cached admission: $ADMISSION instructions"
shaped=""
for reader in shaped sax lexer dom; do
  per_read=$(( ($(total "$reader" $((runs + 1))) - $(total "$reader" 1)) / runs ))
  [ -z "$shaped" ] && shaped="$per_read"
  awk -v r="$reader" -v n="$per_read" -v a="$ADMISSION" -v s="$shaped" 'BEGIN {
    printf "%-7s %7d instructions per read  %5.1f%% of a cached admission  %.2fx shaped\n", r, n, 100 * n / a, n / s }'
done
