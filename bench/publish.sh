#!/usr/bin/env bash
# bench/publish.sh: `archway publish` of a 3-platform list against buildah's way of doing
# the same (`buildah manifest create` + `manifest add` x3 + `manifest push --all`), same
# sources, same registry, same run. Each run publishes into a fresh repository so both
# tools do the full work (mounts/copies, child manifests, the list). Prints both, the
# ratio archway/buildah (target <= 0.5), and archway's no-op re-run.
source "$(dirname "$0")/common.sh"

start_registry
echo "registry: $registry"
sources=()
for platform in linux/amd64 linux/arm64 linux/arm/v7; do
  IFS=/ read -r _ arch variant <<<"$platform"
  build_image "$platform" "$registry/src-${arch}${variant:+-$variant}:1"
  sources+=("$registry/src-${arch}${variant:+-$variant}:1")
done

# One run of each tool, numbered so every run gets its own target repository.
cat >"$work/archway-run.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
n=\$(( \$(cat "$work/archway-counter" 2>/dev/null || echo 0) + 1 )); echo \$n >"$work/archway-counter"
"$archway" publish -q "$registry/out-archway-\$n:1" ${sources[*]} >/dev/null
SH
cat >"$work/buildah-run.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
n=\$(( \$(cat "$work/buildah-counter" 2>/dev/null || echo 0) + 1 )); echo \$n >"$work/buildah-counter"
b=(${buildah_cmd[*]})
"\${b[@]}" manifest create "list-\$n" >/dev/null
for source in ${sources[*]}; do "\${b[@]}" manifest add --tls-verify=false "list-\$n" "docker://\$source" >/dev/null; done
"\${b[@]}" manifest push -q --all --tls-verify=false "list-\$n" "docker://$registry/out-buildah-\$n:1" >/dev/null
SH
chmod +x "$work/archway-run.sh" "$work/buildah-run.sh"

runs="${RUNS:-15}"
hyperfine -N --warmup 2 --runs "$runs" --export-csv "$work/publish.csv" --style none \
  "$work/archway-run.sh" "$work/buildah-run.sh" >/dev/null
a=$(mean_ms "$work/publish.csv" 1)
b=$(mean_ms "$work/publish.csv" 2)

# The idempotent re-run: same target, same sources, nothing written.
"$archway" publish -q "$registry/out-archway-1:1" "${sources[@]}" >/dev/null
before=$(access_lines)
hyperfine -N --warmup 2 --runs "$runs" --export-csv "$work/rerun.csv" --style none \
  "$archway publish -q $registry/out-archway-1:1 ${sources[*]}" >/dev/null
sleep 0.2
after=$(access_lines)
writes=$(tail -n +1 "$work/registry.log" | awk -v skip="$before" '/HTTP\/1\.1" [0-9][0-9][0-9] / { n++; if (n > skip && ($6 == "\"PUT" || $6 == "\"POST" || $6 == "\"PATCH")) w++ } END { print w + 0 }')
rerun=$(mean_ms "$work/rerun.csv" 1)

printf '\n%-40s %10s\n' "3-platform list, fresh repository" "mean"
printf '%-40s %7s ms\n' "archway publish" "$a"
printf '%-40s %7s ms\n' "buildah manifest create/add x3/push --all" "$b"
printf '%-40s %9sx   (target <= 0.50)\n' "ratio archway / buildah" "$(ratio "$a" "$b")"
printf '\n%-40s %7s ms   (%s registry requests per run, %s writes in %s runs)\n' "archway publish, identical re-run" \
  "$rerun" "$(( (after - before) / (runs + 2) ))" "$writes" "$((runs + 2))"
