#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine: curl, openssl,
# slowhttptest, wrk, nginx-light, nodejs, npm, chromium and prometheus
# (Debian packages), the npm ws package, and staticcheck (Go). Tools already
# present are left alone, so it is quick on a prepared machine.
set -euo pipefail

packages=()
command -v curl >/dev/null || packages+=(curl)
command -v openssl >/dev/null || packages+=(openssl)
command -v slowhttptest >/dev/null || packages+=(slowhttptest)
command -v wrk >/dev/null || packages+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || packages+=(nginx-light)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
command -v chromium >/dev/null || packages+=(chromium)
command -v prometheus >/dev/null || packages+=(prometheus)

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
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi

# The npm ws package, for the WebSocket client test.
if [ ! -d testdata/ws/node_modules/ws ]; then
	npm ci --prefix testdata/ws --no-audit --no-fund >/dev/null
fi

gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/staticcheck" ]; then
	echo "install-test-deps: installing staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
