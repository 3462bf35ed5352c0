#!/usr/bin/env bash
# Produces every figure of BENCHMARKS.md: the hot-path benchmarks, COUNT
# runs each (default 10) summarized by benchstat, then the load scenarios
# in full mode. It first waits (at most WAIT seconds, default 600) for the
# one-minute load average to fall to MAX_LOAD (default 0.5), and records
# the machine and the load. Raw outputs go beside this script:
#
#   machine.txt     CPU, cores, Go, OS, load averages before and after
#   bench.txt       go test -bench output, all runs
#   benchstat.txt   benchstat summary: medians, x/oauth2 as the base column
#   scenarios.txt   the load scenario table (medians over 3 runs)
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-10}
max_load=${MAX_LOAD:-0.5}
wait_for=${WAIT:-600}

load1() { cut -d' ' -f1 /proc/loadavg; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

waited=0
while awk -v l="$(load1)" -v m="$max_load" 'BEGIN { exit !(l > m) }' && [ "$waited" -lt "$wait_for" ]; do
	echo "load average $(loadavg): waiting for it to fall to $max_load ($waited s of $wait_for s)"
	sleep 30
	waited=$((waited + 30))
done

{
	echo "date:         $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "cpu:          $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "nproc:        $(nproc)"
	echo "go:           $(go version)"
	echo "os:           $(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "load before:  $(loadavg) (waited ${waited} s for <= $max_load)"
} | tee machine.txt

benchstat=$(command -v benchstat || true)
if [ -z "$benchstat" ]; then
	benchstat="$(go env GOPATH)/bin/benchstat"
	[ -x "$benchstat" ] || go install golang.org/x/perf/cmd/benchstat@latest
fi

go test -run '^$' -bench . -benchmem -count "$count" . | tee bench.txt
echo "load after benchmarks: $(loadavg)" | tee -a machine.txt
"$benchstat" -col /impl bench.txt | tee benchstat.txt

go test -run '^TestScenarios$' -count 1 -v . -scenarios=full -scenarios-out "$PWD/scenarios.txt"
echo "load after scenarios:  $(loadavg)" | tee -a machine.txt
