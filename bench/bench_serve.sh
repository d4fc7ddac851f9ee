#!/usr/bin/env bash
# make bench (server part): the same content served by docker-registry and
# by `ocimirror serve`, loaded with wrk in one run; nginx serving the same
# blob file with sendfile is the ceiling for blobs. Prints rates, ratios and
# each server's peak RSS. Not a test.
. "$(dirname "$0")/prologue.sh"
DUR=${BENCH_SERVE_SECONDS:-8}
BIG=${BENCH_SERVE_BIG_MIB:-256}
for p in wrk nginx; do
	if ! command -v "$p" >/dev/null; then
		if [ "$(id -u)" = 0 ]; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk nginx-light >/dev/null
		else
			echo "bench: needs wrk and nginx: apt-get install wrk nginx-light" >&2
			exit 1
		fi
	fi
done
e2e_start_open
W=$E2E_TMP/bserve
mkdir -p "$W"
"$PYTHON" tests/e2e/lib/seed.py --registry "$REG_OPEN" --prefix b --kinds oci-image --large "$BIG" \
	--out "$W/exp.json" >/dev/null
"$PYTHON" tests/e2e/lib/seed.py --registry "$REG_OPEN" --prefix s --kinds helm-chart --large 1 \
	--out "$W/exp1.json" >/dev/null
read -r MREPO MTAG LREPO BIGB < <("$PYTHON" -c 'import json,sys
d=json.load(open(sys.argv[1]))["refs"]
print(d["oci-image"]["repo"], d["oci-image"]["tag"], d["large"]["repo"], d["large"]["layers"][0]["digest"])' "$W/exp.json")
read -r SREPO BLOB1 < <("$PYTHON" -c 'import json,sys
l=json.load(open(sys.argv[1]))["refs"]["large"]; print(l["repo"], l["layers"][0]["digest"])' "$W/exp1.json")
"$BIN" --store "$W/store" -q pull "$REG_OPEN/$MREPO:$MTAG" "$REG_OPEN/$LREPO:v1" "$REG_OPEN/$SREPO:v1"
PORT=$(e2e_free_port)
"$BIN" --store "$W/store" -q serve --listen "127.0.0.1:$PORT" ${BENCH_SERVE_THREADS:+--threads $BENCH_SERVE_THREADS} &
OMPID=$!
E2E_PIDS+=("$OMPID")
e2e_wait_http "http://127.0.0.1:$PORT/v2/"
NPORT=$(e2e_free_port)
mkdir -p "$W/nginx"
cat >"$W/nginx/nginx.conf" <<EOT
$( [ "$(id -u)" = 0 ] && echo "user root;")
worker_processes 2;
pid $W/nginx/pid;
error_log $W/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on;
  client_body_temp_path $W/nginx; proxy_temp_path $W/nginx;
  fastcgi_temp_path $W/nginx; uwsgi_temp_path $W/nginx; scgi_temp_path $W/nginx;
  server { listen 127.0.0.1:$NPORT; root $W/store; }
}
EOT
nginx -c "$W/nginx/nginx.conf" -g 'daemon off;' &
E2E_PIDS+=("$!")
e2e_wait_http "http://127.0.0.1:$NPORT/blobs/sha256/${BIGB#sha256:}"

ACC='Accept: application/vnd.oci.image.manifest.v1+json'
REGPID=$(pgrep -f "docker-registry serve.*open" | head -n 1 || true)
# wrk: requests/s and transfer rate (MiB/s)
run_wrk() { # CONNS URL [HEADER]
	local out
	if [ -n "${3:-}" ]; then
		out=$(wrk -t2 -c"$1" -d"${DUR}s" -H "$3" "$2")
	else
		out=$(wrk -t2 -c"$1" -d"${DUR}s" "$2")
	fi
	local rps mbs
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	mbs=$(echo "$out" | awk '/Transfer\/sec/ {v=$2; u=substr(v, length(v)-1); n=v+0;
		if (u=="GB") n*=1024; else if (u=="KB") n/=1024; print n}')
	local errs; errs=$(echo "$out" | awk '/Non-2xx/ {print $4}')
	echo "$rps $mbs ${errs:-0}"
}
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status" 2>/dev/null || echo "?"; }

R=http://$REG_OPEN/v2
O=http://127.0.0.1:$PORT/v2/$REG_OPEN
N=http://127.0.0.1:$NPORT/blobs/sha256

read -r r_man _ r_e1 < <(run_wrk 64 "$R/$MREPO/manifests/$MTAG" "$ACC")
read -r o_man _ o_e1 < <(run_wrk 64 "$O/$MREPO/manifests/$MTAG" "$ACC")
read -r _ r_b1 _ < <(run_wrk 16 "$R/$SREPO/blobs/$BLOB1")
read -r _ o_b1 _ < <(run_wrk 16 "$O/$SREPO/blobs/$BLOB1")
read -r _ n_b1 _ < <(run_wrk 16 "$N/${BLOB1#sha256:}")
read -r _ r_bb _ < <(run_wrk 16 "$R/$LREPO/blobs/$BIGB")
read -r _ o_bb _ < <(run_wrk 16 "$O/$LREPO/blobs/$BIGB")
read -r _ n_bb _ < <(run_wrk 16 "$N/${BIGB#sha256:}")
r_rss=$( [ -n "$REGPID" ] && hwm "$REGPID" || echo "?")
o_rss=$(hwm "$OMPID")
ratio() { "$PYTHON" -c "print('%.2f' % (float('$1') / float('$2')))" 2>/dev/null || echo "?"; }
B1=$(stat -c %s "$W/store/blobs/sha256/${BLOB1#sha256:}")
echo
echo "# serve bench: ${DUR}s per run, wrk -t2; blob sizes $((B1 / 1024)) KiB and ${BIG} MiB"
printf '%-38s %14s %14s %14s\n' "" docker-registry ocimirror nginx
printf '%-38s %14s %14s %14s\n' "manifest GET/s, 64 conns" "$r_man" "$o_man" "-"
printf '%-38s %14s %14s %14s\n' "1 MiB blob MiB/s, 16 conns" "$r_b1" "$o_b1" "$n_b1"
printf '%-38s %14s %14s %14s\n' "${BIG} MiB blob MiB/s, 16 conns" "$r_bb" "$o_bb" "$n_bb"
printf '%-38s %14s %14s %14s\n' "peak RSS MiB" "$r_rss" "$o_rss" "-"
printf '%-38s %14s %14s\n' "non-2xx answers (manifest runs)" "$r_e1" "$o_e1"
echo "ratios: manifests $(ratio "$o_man" "$r_man")x registry (target >= 2); small blobs $(ratio "$o_b1" "$r_b1")x registry (>= 1.5), $(ratio "$o_b1" "$n_b1")x nginx (>= 0.9)"
echo "        big blobs $(ratio "$o_bb" "$r_bb")x registry, $(ratio "$o_bb" "$n_bb")x nginx; memory $(ratio "$o_rss" "$r_rss")x registry (target <= 0.25)"
