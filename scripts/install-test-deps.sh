#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine: curl, openssl,
# slowhttptest, wrk, nginx-light, h2o, nodejs, npm, chromium, prometheus,
# nghttp2-client (h2load, nghttp) and haproxy (Debian packages; nginx and h2o are
# the C servers the benchmark suite compares with, haproxy the balancer
# of the fleet test), the npm ws package, and
# staticcheck, h2spec, ghz and grpc-go's interop client (Go). Tools already
# present are left alone, so it is quick on a prepared machine.
set -euo pipefail

packages=()
command -v curl >/dev/null || packages+=(curl)
command -v openssl >/dev/null || packages+=(openssl)
command -v slowhttptest >/dev/null || packages+=(slowhttptest)
command -v wrk >/dev/null || packages+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || packages+=(nginx-light)
command -v h2o >/dev/null || packages+=(h2o)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
command -v chromium >/dev/null || packages+=(chromium)
command -v prometheus >/dev/null || packages+=(prometheus)
command -v h2load >/dev/null && command -v nghttp >/dev/null || packages+=(nghttp2-client)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || packages+=(haproxy)

# apt-get runs beside the Go builds below (one waits on the network and
# the disk, the others on the CPU); its failure fails the script at the
# wait.
apt_pid=""
if [ ${#packages[@]} -gt 0 ]; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null; then
			sudo="sudo"
		else
			echo "install-test-deps: need root or sudo to install: ${packages[*]}" >&2
			exit 1
		fi
	fi
	echo "install-test-deps: installing ${packages[*]}"
	(
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
	) &
	apt_pid=$!
fi

gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/staticcheck" ]; then
	echo "install-test-deps: installing staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
# h2spec, the HTTP/2 conformance suite (TestH2spec), and ghz, the gRPC load
# generator of the benchmark suite (its smoke run is part of make test).
if [ ! -x "$gobin/h2spec" ]; then
	echo "install-test-deps: installing h2spec"
	go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible # its latest, v2.2.1
fi
if [ ! -x "$gobin/ghz" ]; then
	echo "install-test-deps: installing ghz"
	go install github.com/bojand/ghz/cmd/ghz@v0.93.0
fi
# Pebble, Let's Encrypt's test CA, and its DNS server pebble-challtestsrv,
# for the automatic HTTPS tests (TestACME*); the tests also read Pebble's
# test certificates from the module cache, where go install leaves them.
pebble_mod="$(go env GOMODCACHE)/github.com/letsencrypt/pebble/v2@v2.10.3"
if [ ! -x "$gobin/pebble" ] || [ ! -x "$gobin/pebble-challtestsrv" ] || [ ! -d "$pebble_mod/test/certs" ]; then
	echo "install-test-deps: installing pebble and pebble-challtestsrv"
	go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3
	go install github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@v2.10.3
fi
# grpc-go's interop client, run against the kestrel command's demo
# (cmd/kestrel's TestDemoGRPC); go install names it "client", so it is
# built in a folder of its own and installed as grpc-interop-client.
if [ ! -x "$gobin/grpc-interop-client" ]; then
	echo "install-test-deps: installing grpc-go's interop client"
	tmp="$(mktemp -d)"
	GOBIN="$tmp" go install google.golang.org/grpc/interop/client@v1.85.0
	mv "$tmp/client" "$gobin/grpc-interop-client"
	rmdir "$tmp"
fi

if [ -n "$apt_pid" ]; then
	if ! wait "$apt_pid"; then
		echo "install-test-deps: apt-get install ${packages[*]} failed" >&2
		exit 1
	fi
fi

# The npm ws package, for the WebSocket client test.
if [ ! -d testdata/ws/node_modules/ws ]; then
	npm ci --prefix testdata/ws --no-audit --no-fund >/dev/null
fi
