#!/usr/bin/env bash
# cluster.sh runs the cluster stack: HAProxy (apache/cluster-haproxy.cfg.in)
# in front of two nodes, each an Apache + authorizer of scripts/stack.sh,
# sharing one Samba DC, the keytab, the site's certificate and the login
# cookie's key and generation. For make demo-cluster and the e2e tests
# (test/e2e/cluster_test.go). Needs root.
#
#   cluster.sh up DIR [IP]    node1 in DIR/node1 with its DC on IP (default
#                             127.0.0.14), node2 in DIR/node2 on that DC,
#                             HAProxy; prints the URLs. With STACK_DC_DIR
#                             (another stack's DIR/dc, running on IP) both
#                             nodes use that DC (make test: the test stack's)
#   cluster.sh status DIR     what runs; exit 1 if something does not
#   cluster.sh down DIR       stop everything and delete DIR (a DC of
#                             STACK_DC_DIR is left running)
#   cluster.sh redis-stop|redis-start DIR   the replay cache's Redis (outage tests)
#   Node outages: scripts/stack.sh stop-authz|start-authz DIR/nodeN
#
# DIR/stack.env: node1's stack.env (KRB5_CONFIG, SPN_HOST, HTTPS_CA, PUB,
# ...) with the addresses replaced by HAProxy's: URL (HTTP), HTTPS_URL and
# HTTPS_PORT (TLS ends at HAProxy), HOST_URL; and PASSTHROUGH_URL,
# PASSTHROUGH_PORT (TLS passed through to the nodes), LB_CERT (HAProxy's
# certificate, PEM), NODE1_URL NODE2_URL NODE1_HTTPS_URL NODE2_HTTPS_URL
# (each node directly), NODE1_STACK NODE2_STACK (their stack.env),
# AUTHZ_PID_FILE_1 AUTHZ_PID_FILE_2 AUTHZ_LOG_1 AUTHZ_LOG_2, COOKIE_SECRET_FILE,
# HAPROXY_CONF HAPROXY_LOG HAPROXY_PID_FILE; ONE_NODE_URL (HAProxy to node1
# alone, for make bench's two-nodes-vs-one ratio); REDIS_URL, REDIS_PID_FILE
# (the nodes' shared replay cache); FRONT_URL, FRONT_LOG: an Apache
# mod_proxy front end to node1 that pools its node connections across
# clients (apache/cluster-front.conf.in).
#
# Environment, read by "up" (besides stack.sh's STACK_*):
#   CLUSTER_LB_ALPN   the HTTPS front end's ALPN list (default h2,http/1.1)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
stack=$here/stack.sh

say() { echo "cluster.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}
usage() {
	sed -n '7,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

cmd=${1:-}
[ -n "$cmd" ] && [ -n "${2:-}" ] || usage
case $2 in /*) dir=${2%/} ;; *) dir=$PWD/${2%/} ;; esac
[ "$dir" != "" ] || die "refusing / as the cluster directory"
lb=$dir/haproxy
lb_pidf=$lb/haproxy.pid
front=$dir/front
front_pidf=$front/apache2.pid

alive() { kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

env_of() { # stack.env KEY
	sed -n "s/^$2=//p" "$1"
}

# The nodes share the login cookie's key (a cookie one node set is good on
# the other) and its generation (raise it on both to revoke). Written once,
# kept across "up"s; readable by the authorizers' user only.
cookie_key() {
	local f=$pub/cookie.key
	if [ ! -s "$f" ]; then
		install -m 0640 -o root -g goauthenntlm /dev/null "$f.tmp"
		head -c 32 /dev/urandom | base64 >"$f.tmp"
		mv "$f.tmp" "$f"
	fi
	echo "$f"
}

# The site's certificates, from a throwaway CA of the cluster: the nodes'
# (both the same, as one site's; stack.sh takes them through
# STACK_SITE_TLS_DIR) and HAProxy's own, another one, so that a test can
# tell which one a client's channel binding is for. HAProxy reads its
# certificate and key from one file.
cluster_tls() {
	local t=$dir/tls host=www.example.test
	[ -s "$t/lb.pem" ] && return 0
	mkdir -p "$t"
	chmod 0700 "$t"
	(
		umask 077
		openssl req -x509 -newkey rsa:2048 -sha256 -days 3650 -nodes -subj "/CN=GoAuthenNTLM cluster CA" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
			-keyout "$t/ca.key" -out "$t/ca.pem"
		printf 'subjectAltName=DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$host" >"$t/site.ext"
		for c in site lb; do
			openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" -keyout "$t/$c.key" -out "$t/$c.csr"
			openssl x509 -req -sha256 -days 3650 -in "$t/$c.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
				-extfile "$t/site.ext" -out "$t/$c.crt"
		done
		mv "$t/site.crt" "$t/site.pem"
		cat "$t/lb.crt" "$t/lb.key" >"$t/lb.pem"
	) >"$t/openssl.log" 2>&1 || {
		cat "$t/openssl.log" >&2
		die "could not make the cluster's certificates"
	}
}

# lb_end_point is HAProxy's certificate's tls-server-end-point hash (RFC
# 5929; SHA-256, the certificate's signature hash), what the nodes' Apache
# passes the authorizer for requests whose TLS HAProxy ended.
lb_end_point() {
	openssl x509 -in "$dir/tls/lb.crt" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1
}

port() { # a free port, not one of those already taken
	local p
	while :; do
		p=$(bash "$stack" free-port "$dir")
		case " $taken " in *" $p "*) continue ;; esac
		taken="$taken $p"
		echo "$p"
		return
	done
}

start_haproxy() {
	alive "$lb_pidf" && return 0
	haproxy -c -f "$lb/haproxy.cfg" >"$lb/check.log" 2>&1 || {
		cat "$lb/check.log" >&2
		die "haproxy -c rejects $lb/haproxy.cfg"
	}
	setsid haproxy -db -f "$lb/haproxy.cfg" >>"$lb/haproxy.log" 2>&1 </dev/null &
	echo $! >"$lb_pidf"
	local deadline=$((SECONDS + 20))
	# Ready when a request through it reaches a node.
	until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LB_HTTP_PORT/public/file.txt")" = 200 ]; do
		alive "$lb_pidf" || {
			tail -n 20 "$lb/haproxy.log" >&2
			die "haproxy exited"
		}
		[ $SECONDS -lt $deadline ] || {
			tail -n 20 "$lb/haproxy.log" >&2
			die "nothing answered through haproxy within 20 s"
		}
		sleep 0.2
	done
}

# The pooled Apache front end (apache/cluster-front.conf.in), to node1.
start_front() {
	alive "$front_pidf" && return 0
	mkdir -p "$front" "$pub/front-run"
	(umask 077 && sed -e "s|@DIR@|$front|g" -e "s|@RUN@|$pub/front-run|g" -e "s|@PORT@|$FRONT_PORT|g" \
		-e "s|@NODE_URL@|$(env_of "$dir/node1/stack.env" URL)|g" "$root/apache/cluster-front.conf.in" >"$front/httpd.conf")
	apache2 -f "$front/httpd.conf" -DSTACK_ROOT -t >"$front/configtest.log" 2>&1 || {
		cat "$front/configtest.log" >&2
		die "apache2 -t rejects $front/httpd.conf"
	}
	setsid apache2 -f "$front/httpd.conf" -DSTACK_ROOT -DFOREGROUND >>"$front/stderr.log" 2>&1 </dev/null &
	echo $! >"$front_pidf"
	local deadline=$((SECONDS + 20))
	until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FRONT_PORT/public/file.txt")" = 200 ]; do
		alive "$front_pidf" && [ $SECONDS -lt $deadline ] || {
			tail -n 20 "$front/error.log" "$front/stderr.log" >&2
			die "the Apache front end did not answer within 20 s"
		}
		sleep 0.2
	done
}

stop_pidfile() { # pidfile
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$1"
}

stop_haproxy() { stop_pidfile "$lb_pidf"; }

# Redis, the nodes' shared Kerberos replay cache ([replay] redis_url): on
# 127.0.0.1, no persistence (a test stack), no eviction (Redis's default).
redis_pidf=$dir/redis.pid
start_redis() {
	alive "$redis_pidf" && return 0
	mkdir -p "$pub/redis"
	local as=()
	if id -u redis >/dev/null 2>&1; then
		chown redis: "$pub/redis"
		as=(setpriv --reuid=redis --regid=redis --init-groups --)
	fi
	setsid "${as[@]}" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
		--dir "$pub/redis" --logfile "$pub/redis/redis.log" </dev/null >/dev/null 2>&1 &
	echo $! >"$redis_pidf"
	local deadline=$((SECONDS + 10))
	until [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; do
		alive "$redis_pidf" && [ $SECONDS -lt $deadline ] || {
			tail -n 20 "$pub/redis/redis.log" >&2
			die "redis-server did not answer PING within 10 s"
		}
		sleep 0.1
	done
}

write_env() {
	local n1=$dir/node1/stack.env n2=$dir/node2/stack.env host
	host=$(env_of "$n1" HTTPS_HOST)
	{
		echo "# GoAuthenNTLM cluster stack, written by scripts/cluster.sh: node1's stack.env, addresses through HAProxy"
		grep -v -E '^(#|URL=|HTTPS_URL=|HTTPS_PORT=|HOST_URL=)' "$n1"
		cat <<-EOF
			URL=http://127.0.0.1:$LB_HTTP_PORT/
			HTTPS_URL=https://$host:$LB_HTTPS_PORT/
			HTTPS_PORT=$LB_HTTPS_PORT
			HOST_URL=http://$(env_of "$n1" SPN_HOST):$LB_HTTP_PORT/
			PASSTHROUGH_URL=https://$host:$LB_PASS_PORT/
			PASSTHROUGH_PORT=$LB_PASS_PORT
			LB_CERT=$pub/lb.crt
			NODE1_URL=$(env_of "$n1" URL)
			NODE2_URL=$(env_of "$n2" URL)
			NODE1_HTTPS_URL=$(env_of "$n1" HTTPS_URL)
			NODE2_HTTPS_URL=$(env_of "$n2" HTTPS_URL)
			NODE1_STACK=$n1
			NODE2_STACK=$n2
			AUTHZ_PID_FILE_1=$(env_of "$n1" AUTHZ_PID_FILE)
			AUTHZ_PID_FILE_2=$(env_of "$n2" AUTHZ_PID_FILE)
			AUTHZ_LOG_1=$(env_of "$n1" AUTHZ_LOG)
			AUTHZ_LOG_2=$(env_of "$n2" AUTHZ_LOG)
			COOKIE_SECRET_FILE=$pub/cookie.key
			HAPROXY_CONF=$lb/haproxy.cfg
			HAPROXY_LOG=$lb/haproxy.log
			HAPROXY_PID_FILE=$lb_pidf
			FRONT_URL=http://127.0.0.1:$FRONT_PORT/
			ONE_NODE_URL=http://127.0.0.1:$LB_ONE_PORT/
			REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
			REDIS_PID_FILE=$redis_pidf
			FRONT_LOG=$front/access.log
		EOF
	} >"$dir/stack.env.tmp"
	mv "$dir/stack.env.tmp" "$dir/stack.env"
}

up() {
	local ip=${1:-127.0.0.14} n dcdir cookie
	[ "$(id -u)" = 0 ] || die "needs root"
	mkdir -p "$dir" "$lb"
	chmod 0700 "$dir"
	# What the authorizers' user must read (the cookie key): a directory of
	# its own in /tmp, as stack.sh's PUB.
	if [ -f "$dir/pub" ] && [ -d "$(cat "$dir/pub")" ]; then
		pub=$(cat "$dir/pub")
	else
		pub=$(mktemp -d /tmp/goauthenntlm-stack.XXXXXX)
		chmod 755 "$pub"
		echo "$pub" >"$dir/pub"
	fi
	bash "$stack" deps
	# stack.sh creates the authorizers' user; the cookie key needs it first.
	id -u goauthenntlm >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin goauthenntlm
	taken=
	cookie=$(cookie_key)
	# Both nodes: the same [cookie] table (key, generation 0).
	export STACK_CONF_EXTRA="${STACK_CONF_EXTRA:-}
[cookie]
enabled = true
secret_files = [\"$cookie\"]
generation = 0
"
	cluster_tls
	# Extended Protection behind HAProxy: a request HAProxy (127.0.0.1) says
	# came over TLS is bound to HAProxy's certificate (README, Load balancers).
	export STACK_APACHE_EXTRA="${STACK_APACHE_EXTRA:-}
SetEnvIfExpr \"%{HTTP:X-Forwarded-Proto} == 'https' && %{CONN_REMOTE_ADDR} -ipmatch '127.0.0.1/32'\" GOAUTHENNTLM_TLS_END_POINT=$(lb_end_point)
"
	# mod_remoteip, as sites behind a balancer use it to log and limit by
	# the client's address: REMOTE_ADDR from X-Forwarded-For when HAProxy
	# (127.0.0.1) sent it; the authorizer keys connections by the peer
	# (GOAUTHENNTLM_PEER), so a forged X-Forwarded-For borrows no login.
	STACK_APACHE_EXTRA="$STACK_APACHE_EXTRA
LoadModule remoteip_module /usr/lib/apache2/modules/mod_remoteip.so
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
"
	# HTTP/2 on the nodes' HTTPS site (TLS passed through: the client's
	# ALPN reaches Apache): NTLM and Kerberos logins over an h2 site.
	STACK_APACHE_EXTRA="$STACK_APACHE_EXTRA
LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so
Protocols h2 http/1.1
"
	if [ -f "$dir/ports" ]; then
		# shellcheck disable=SC1091
		. "$dir/ports"
	else
		LB_HTTP_PORT=$(port) LB_HTTPS_PORT=$(port) LB_PASS_PORT=$(port) FRONT_PORT=$(port) LB_ONE_PORT=$(port) REDIS_PORT=$(port)
		printf 'LB_HTTP_PORT=%s\nLB_HTTPS_PORT=%s\nLB_PASS_PORT=%s\nFRONT_PORT=%s\nLB_ONE_PORT=%s\nREDIS_PORT=%s\n' \
			"$LB_HTTP_PORT" "$LB_HTTPS_PORT" "$LB_PASS_PORT" "$FRONT_PORT" "$LB_ONE_PORT" "$REDIS_PORT" >"$dir/ports"
	fi
	start_redis
	export STACK_REPLAY_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
	dcdir=${STACK_DC_DIR:-}
	for n in 1 2; do
		# node1 brings up its DC unless one is given; node2 uses node1's.
		local mport
		if [ -f "$dir/node$n/stack.env" ]; then
			mport=$(env_of "$dir/node$n/stack.env" METRICS_ADDR)
			mport=${mport##*:}
		else
			mport=$(port)
		fi
		STACK_DC_DIR=$dcdir STACK_METRICS_ADDR=127.0.0.1:$mport \
			STACK_SITE_TLS_DIR=$dir/tls \
			bash "$stack" up "$dir/node$n" "$ip" >"$dir/node$n.up.log" 2>&1 || {
			cat "$dir/node$n.up.log" >&2
			die "node$n did not come up"
		}
		[ -n "$dcdir" ] || dcdir=$(cd "$dir/node1/dc" && pwd -P)
	done
	install -m 0644 "$dir/tls/lb.crt" "$pub/lb.crt"
	local n1=$dir/node1/stack.env n2=$dir/node2/stack.env
	(umask 077 && sed -e "s|@LB_HTTP_PORT@|$LB_HTTP_PORT|g" -e "s|@LB_HTTPS_PORT@|$LB_HTTPS_PORT|g" \
		-e "s|@LB_PASS_PORT@|$LB_PASS_PORT|g" -e "s|@LB_ONE_PORT@|$LB_ONE_PORT|g" -e "s|@LB_PEM@|$dir/tls/lb.pem|g" \
		-e "s|@LB_ALPN@|${CLUSTER_LB_ALPN:-h2,http/1.1}|g" \
		-e "s|@NODE1_PORT@|$(env_of "$n1" APACHE_PORT)|g" -e "s|@NODE2_PORT@|$(env_of "$n2" APACHE_PORT)|g" \
		-e "s|@NODE1_HTTPS_PORT@|$(env_of "$n1" HTTPS_PORT)|g" -e "s|@NODE2_HTTPS_PORT@|$(env_of "$n2" HTTPS_PORT)|g" \
		"$root/apache/cluster-haproxy.cfg.in" >"$lb/haproxy.cfg")
	write_env
	start_haproxy
	start_front
	cat <<-EOF

		Cluster: HAProxy in front of two Apache + authorizer nodes, one DC.
		  URL=http://127.0.0.1:$LB_HTTP_PORT/
		  HTTPS_URL=$(env_of "$dir/stack.env" HTTPS_URL)  (TLS ends at HAProxy)
		  PASSTHROUGH_URL=$(env_of "$dir/stack.env" PASSTHROUGH_URL)  (TLS passed through)
		  curl --ntlm -u 'EXAMPLE\\jdoe:Secr3t!Pass' http://127.0.0.1:$LB_HTTP_PORT/private/whoami
		  HTTPS: curl --cacert $(env_of "$n1" HTTPS_CA) --resolve $(env_of "$n1" HTTPS_HOST):$LB_HTTPS_PORT:127.0.0.1 ...
		Nodes: $(env_of "$dir/stack.env" NODE1_URL) $(env_of "$dir/stack.env" NODE2_URL)
		  stop one: bash $stack stop-authz $dir/node1 (HAProxy drains it within 2 s)
		Files: $dir/stack.env, $lb/haproxy.cfg; log $lb/haproxy.log
		Stop:  $here/cluster.sh down $dir
	EOF
}

status() {
	local rc=0 n
	for n in 1 2; do
		echo "== node$n"
		bash "$stack" status "$dir/node$n" | sed -n '/^apache2:/,$p' || rc=1
	done
	if alive "$lb_pidf"; then echo "haproxy:              running (pid $(cat "$lb_pidf"))"; else
		echo "haproxy:              NOT running"
		rc=1
	fi
	if alive "$front_pidf"; then echo "apache2 front:        running (pid $(cat "$front/apache2.pid"))"; else
		echo "apache2 front:        NOT running"
		rc=1
	fi
	return $rc
}

down() {
	[ -e "$dir" ] || {
		say "$dir does not exist; nothing to do"
		return 0
	}
	[ -d "$dir/node1" ] || [ -d "$lb" ] || die "$dir does not look like a cluster directory; not deleting it"
	stop_haproxy
	stop_pidfile "$front_pidf"
	stop_pidfile "$redis_pidf"
	# node2 first: it may use node1's DC.
	local n
	for n in 2 1; do
		[ ! -d "$dir/node$n" ] || bash "$stack" down "$dir/node$n" || true
	done
	if [ -f "$dir/pub" ]; then
		local p
		p=$(cat "$dir/pub")
		case $p in /tmp/goauthenntlm-stack.*) rm -rf "$p" ;; esac
	fi
	rm -rf "$dir"
	say "cluster in $dir stopped and removed"
}

case $cmd in
up) up "${3:-}" ;;
down) down ;;
status) status ;;
redis-stop) stop_pidfile "$redis_pidf" ;;
redis-start)
	pub=$(cat "$dir/pub")
	# shellcheck disable=SC1091
	. "$dir/ports"
	start_redis
	;;
*) usage ;;
esac
