# The one test command: `make test`. It installs redis-server (Debian
# package) when it is missing, since the redisstore integration tests start
# a real one. The interop module runs a real OpenID Provider in-process.
.PHONY: test vet redis-server quickstart bench interop

test: redis-server vet
	go test -race ./...
	cd redisstore && go test -race ./...
	cd interop && go test -race ./...
	cd otel && go test -race ./...
	go test -run '^$$' -bench . -benchtime 1x ./bench/...

vet:
	go vet ./...
	cd redisstore && go vet ./...
	cd interop && go vet ./...
	cd otel && go vet ./...

# The interop tests, writing the compatibility table docs/INTEROP.md.
interop:
	cd interop && INTEROP_TABLE=../docs/INTEROP.md go test -race -count=1 ./...

redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	}

quickstart:
	go run ./examples/quickstart

# Full benchmark run behind BENCHMARKS.md (takes several minutes).
bench:
	cd bench && ./run.sh
