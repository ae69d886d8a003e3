#!/bin/bash
# Runs the same scenarios through crictl against any CRI endpoint (runcri, containerd, cri-o),
# so the figures of two runtimes can be set side by side from one machine. Each figure is a
# `metric value unit` line; crictl's own start-up (tens of ms) is inside every timing, for
# every runtime alike.
#
#   bench/compare.sh ENDPOINT [LABEL]
#
# Environment:
#   CRICTL      crictl binary (default: crictl on the PATH)
#   IMAGE       image for the containers; pulled first if missing
#               (default registry.k8s.io/e2e-test-images/busybox:1.29-2)
#   PULL_IMAGE  optional: a large image to time a cold pull of (removed first)
#   ROUNDS      lifecycle rounds (default 20)
#   CONTAINERS  running containers for the memory figures (default 50)
#   MEMORY_LAYOUT  pod-per-container (default) or one-pod
#   SETTLE_SECONDS wait after the removals before the last memory figures (default 12)
#   DAEMON_PID  the runtime daemon's PID, for its RSS and PSS (optional)
#   HELPER      executable name of the per-container helpers to add to PSS (conmon,
#               containerd-shim-runc-v2, ...; optional). Processes are only read, never signalled.
#   RUNTIME_HANDLER  runtime handler for the pods (default: the runtime's default)
set -euo pipefail

ENDPOINT=${1:?usage: compare.sh ENDPOINT [LABEL]}
LABEL=${2:-runtime}
CRICTL=${CRICTL:-$(command -v crictl || true)}
IMAGE=${IMAGE:-registry.k8s.io/e2e-test-images/busybox:1.29-2}
ROUNDS=${ROUNDS:-20}
CONTAINERS=${CONTAINERS:-50}
[ -x "$CRICTL" ] || { echo "no crictl (set CRICTL)" >&2; exit 2; }

work=$(mktemp -d)
pods=()
cleanup() {
	for p in "${pods[@]}"; do crictl_ stopp "$p" >/dev/null 2>&1 || true; crictl_ rmp "$p" >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT

crictl_() { "$CRICTL" --runtime-endpoint "$ENDPOINT" --image-endpoint "$ENDPOINT" --timeout 120s "$@" 2>/dev/null; }
now_ms() { date +%s%3N; }
metric() { printf '%s_%s %s %s\n' "$LABEL" "$1" "$2" "$3"; }
# p50 of the numbers on stdin
p50() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else print v[int((NR + 1) / 2)] }'; }

pod_config() {
	cat >"$work/pod-$1.json" <<EOF
{"metadata": {"name": "compare-$1", "namespace": "compare", "uid": "compare-$1-$$", "attempt": 0},
 "log_directory": "$work/logs/$1", "linux": {}}
EOF
	echo "$work/pod-$1.json"
}
container_config() {
	cat >"$work/ctr.json" <<EOF
{"metadata": {"name": "sleeper"}, "image": {"image": "$IMAGE"}, "command": ["sleep", "3600"],
 "log_path": "sleeper.log", "linux": {}}
EOF
	echo "$work/ctr.json"
}
runp() {
	if [ -n "${RUNTIME_HANDLER:-}" ]; then crictl_ runp --runtime "$RUNTIME_HANDLER" "$1"; else crictl_ runp "$1"; fi
}

pss_kib() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# PIDs whose executable is named $HELPER (names longer than 15 characters defeat pgrep).
helper_pids() {
	local exe
	for exe in /proc/[0-9]*/exe; do
		[ "$(basename "$(readlink "$exe" 2>/dev/null)")" = "$HELPER" ] && echo "${exe//[^0-9]/}"
	done
	return 0
}
helpers_pss_kib() {
	[ -n "${HELPER:-}" ] || { echo 0; return; }
	local total=0 pid
	for pid in $(helper_pids); do total=$((total + $(pss_kib "$pid"))); done
	echo "$total"
}
memory_figures() {
	[ -n "${DAEMON_PID:-}" ] || return 0
	metric "daemon_rss_$1" "$(( $(rss_kib "$DAEMON_PID") / 1024 ))" MiB
	local helpers
	helpers=$(helpers_pss_kib)
	metric "daemon_plus_helpers_pss_$1" "$(( ($(pss_kib "$DAEMON_PID") + helpers) / 1024 ))" MiB
	local count
	count=$(helper_pids | wc -l)
	if [ -n "${HELPER:-}" ] && [ "$count" -gt 0 ]; then
		metric "pss_per_helper_$1" "$(( helpers / count ))" KiB
	fi
}

crictl_ inspecti "$IMAGE" >/dev/null || crictl_ pull "$IMAGE" >/dev/null

if [ -n "${PULL_IMAGE:-}" ]; then
	crictl_ rmi "$PULL_IMAGE" >/dev/null || true
	start=$(now_ms)
	crictl_ pull "$PULL_IMAGE" >/dev/null
	metric cold_pull_ms $(( $(now_ms) - start )) ms
fi

memory_figures fresh

# Lifecycle: one pod, then per round a container created, started, exec'd into, stopped and removed.
pod=$(runp "$(pod_config life)")
pods+=("$pod")
ctr=$(container_config)
: >"$work/create_start" ; : >"$work/exec" ; : >"$work/stop_rm" ; : >"$work/ps"
for _ in $(seq "$ROUNDS"); do
	t0=$(now_ms)
	id=$(crictl_ create "$pod" "$ctr" "$work/pod-life.json")
	crictl_ start "$id" >/dev/null
	t1=$(now_ms)
	crictl_ exec -s "$id" true >/dev/null
	t2=$(now_ms)
	crictl_ stop -t 0 "$id" >/dev/null
	crictl_ rm "$id" >/dev/null
	t3=$(now_ms)
	echo $((t1 - t0)) >>"$work/create_start"
	echo $((t2 - t1)) >>"$work/exec"
	echo $((t3 - t2)) >>"$work/stop_rm"
done
metric create_start_p50 "$(p50 <"$work/create_start")" ms
metric exec_sync_p50 "$(p50 <"$work/exec")" ms
metric stop_remove_p50 "$(p50 <"$work/stop_rm")" ms
crictl_ stopp "$pod" >/dev/null
crictl_ rmp "$pod" >/dev/null
pods=()

: >"$work/runp"
for i in $(seq "$ROUNDS"); do
	t0=$(now_ms)
	p=$(runp "$(pod_config "p$i")")
	echo $(($(now_ms) - t0)) >>"$work/runp"
	crictl_ stopp "$p" >/dev/null
	crictl_ rmp "$p" >/dev/null
done
metric runp_p50 "$(p50 <"$work/runp")" ms

# Memory with CONTAINERS running containers, then after they are all gone. A pod each, as
# kubelet lays out most nodes (MEMORY_LAYOUT=one-pod puts them all in one pod): a runtime
# with a helper per pod and one with a helper per container then pay alike.
memory_pods=()
for i in $(seq "$CONTAINERS"); do
	if [ "${MEMORY_LAYOUT:-pod-per-container}" = one-pod ]; then
		[ "$i" -gt 1 ] || { memory_pods+=("$(runp "$(pod_config mem)")"); pods+=("${memory_pods[0]}"); }
		p=${memory_pods[0]}; pconf="$work/pod-mem.json"
	else
		p=$(runp "$(pod_config "mem$i")"); pconf="$work/pod-mem$i.json"
		memory_pods+=("$p"); pods+=("$p")
	fi
	id=$(crictl_ create "$p" <(sed "s/\"sleeper\"/\"sleeper-$i\"/" "$ctr") "$pconf")
	crictl_ start "$id" >/dev/null
done
for _ in $(seq 10); do
	t0=$(now_ms)
	crictl_ ps >/dev/null
	echo $(($(now_ms) - t0)) >>"$work/ps"
done
metric ps_at_${CONTAINERS}_p50 "$(p50 <"$work/ps")" ms
memory_figures "at_${CONTAINERS}"
for p in "${memory_pods[@]}"; do
	crictl_ stopp "$p" >/dev/null
	crictl_ rmp "$p" >/dev/null
done
pods=()
# Long enough for a garbage-collected daemon to collect what the load left behind.
sleep "${SETTLE_SECONDS:-12}"
memory_figures after_removal
