#!/usr/bin/env bash
# make run: a demo store served on 127.0.0.1:5000, filled with content
# generated here (no network): a multi-platform image, a Docker image, a
# Helm-chart artifact, an SBOM that refers to an image, and the two Margo
# sample application packages (testdata/margo) for the catalog. Push is on
# for the demo user; pulls are anonymous.
set -euo pipefail
BIN=$(realpath "${1:-build/ocimirror}")
cd "$(dirname "$0")/.."
STORE=${DEMO_STORE:-$PWD/build/demo-store}
LISTEN=${DEMO_LISTEN:-127.0.0.1:5000}
PY=/usr/bin/python3
mkdir -p "$STORE"
HTP=$STORE/demo.htpasswd
[ -f "$HTP" ] || htpasswd -Bbn demo demo-password >"$HTP"

if [ ! -f "$STORE/repositories/demo/apps/monitor/_tags/0.3.1-rc.2" ]; then
	"$BIN" --store "$STORE" -q app push testdata/margo/helm-app store:demo/apps/digitron
	"$BIN" --store "$STORE" -q app push testdata/margo/compose-app store:demo/apps/monitor
fi
"$BIN" --store "$STORE" -q serve --listen "$LISTEN" --htpasswd "$HTP" \
	--push --anonymous-read &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 50); do
	curl -fsS "http://$LISTEN/healthz" >/dev/null 2>&1 && break
	kill -0 $PID 2>/dev/null || { echo "demo: ocimirror serve did not start (is $LISTEN in use?)" >&2; exit 1; }
	sleep 0.1
done
if [ ! -f "$STORE/demo-content.json" ]; then
	echo "demo: generating content into $STORE ..."
	"$PY" tests/e2e/lib/seed.py --registry "$LISTEN" --user demo --password demo-password \
		--prefix demo --kinds oci-image,docker-image,multiarch,helm-chart,sbom \
		--out "$STORE/demo-content.json" >/dev/null
fi
echo
"$BIN" --store "$STORE" ls
cat <<EOT

ocimirror is serving $STORE on http://$LISTEN (Ctrl-C stops it).
The catalog (web page): http://$LISTEN/
Try:
  curl -s http://$LISTEN/v2/_catalog
  skopeo inspect --tls-verify=false docker://$LISTEN/demo/multiarch:v1
  skopeo copy --tls-verify=false docker://$LISTEN/demo/oci-image:v1 oci:/tmp/demo-image:v1
  podman pull --tls-verify=false $LISTEN/demo/multiarch:v1
  crictl pull $LISTEN/demo/multiarch:v1      (with $LISTEN set as an insecure mirror)
  skopeo copy --dest-creds demo:demo-password --dest-tls-verify=false \\
      oci:/tmp/demo-image:v1 docker://$LISTEN/demo/copied:v1
  curl -s http://$LISTEN/metrics
  curl -s http://$LISTEN/ocimirror/v1/apps      (the Margo application catalog)
  curl -s http://$LISTEN/ocimirror/v1/sync      (the last sync run)
  $BIN --store $STORE app show demo/apps/digitron
EOT
wait $PID
