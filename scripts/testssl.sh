#!/usr/bin/env bash
# Audits the HTTPS defaults with testssl.sh (Debian package): starts the
# kestrel command on an https:// endpoint with a certificate from a test CA
# (made here with openssl) and fails if testssl.sh reports anything of
# severity HIGH or CRITICAL.
#
#   scripts/testssl.sh            (takes a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
missing=()
command -v testssl >/dev/null || command -v testssl.sh >/dev/null || missing+=(testssl.sh)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
	$sudo_cmd apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
testssl=$(command -v testssl || command -v testssl.sh)

work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/kestrel" ./cmd/kestrel

# A test CA and a server certificate it issued, with a CRL location, as a
# real one would have: the audit is of the server's TLS settings, not of a
# self-signed certificate.
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 -subj "/CN=kestrel testssl CA" \
	-keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" -keyout site.key -out site.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\ncrlDistributionPoints=URI:http://127.0.0.1/ca.crl\n' >site.ext
openssl x509 -req -in site.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 90 -extfile site.ext -out site.crt 2>/dev/null
port=$((20000 + RANDOM % 20000))
cat >kestrel.json <<JSON
{ "Kestrel": {
    "Endpoints": { "Https": { "Url": "https://127.0.0.1:$port" } },
    "Certificates": { "Default": { "Path": "$work/site.crt", "KeyPath": "$work/site.key" } } } }
JSON
cd - >/dev/null
"$work/kestrel" --config "$work/kestrel.json" 2>"$work/server.log" &
server=$!
for _ in $(seq 50); do
	grep -q "Now listening on" "$work/server.log" && break
	sleep 0.1
done

"$testssl" --quiet --color 0 --warnings off --add-ca "$work/ca.pem" --jsonfile "$work/out.json" "https://127.0.0.1:$port" >"$work/testssl.txt" || true

echo "testssl.sh findings by severity:"
jq -r '[.[] | .severity] | group_by(.) | map("  \(.[0]): \(length)") | .[]' "$work/out.json"
bad=$(jq -r '[.[] | select(.severity == "HIGH" or .severity == "CRITICAL")] | length' "$work/out.json")
if [ "$bad" -gt 0 ]; then
	echo "HIGH or CRITICAL findings:"
	jq -r '.[] | select(.severity == "HIGH" or .severity == "CRITICAL") | "  \(.severity) \(.id): \(.finding)"' "$work/out.json"
	exit 1
fi
echo "MEDIUM and LOW findings:"
jq -r '.[] | select(.severity == "MEDIUM" or .severity == "LOW") | "  \(.severity) \(.id): \(.finding)"' "$work/out.json"
echo "no HIGH or CRITICAL findings"
