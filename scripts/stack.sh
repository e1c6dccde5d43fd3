#!/usr/bin/env bash
# stack.sh runs a complete throwaway GoAuthenNTLM stack on loopback, for the
# demo, the end-to-end tests and the benchmarks: a Samba AD DC (scripts/dc.sh),
# ntlm-fcgi-authorizer, and our own Apache instance (apache/test-site.conf.in)
# with ntlm-group-check as its external group program. Needs root (Samba).
#
#   stack.sh up DIR [IP]      deps, DC on IP (default 127.0.0.10), build, start
#                             everything; prints the URL and test logins. Run
#                             again on a running stack: starts what is not
#                             running and prints the same information.
#   stack.sh status DIR       what runs; exit 1 if something does not
#   stack.sh restart-authz DIR   restart the authorizer (same binary, DIR/conf.toml;
#                             its address stays held meanwhile)
#   stack.sh stop-authz DIR   stop the authorizer; its address stays held (root's)
#   stack.sh start-authz DIR  start it again after stop-authz
#   stack.sh restart-apache DIR  restart Apache (same DIR/apache/httpd.conf)
#   stack.sh dc-stop DIR      stop the DC, keeping its data (outage tests)
#   stack.sh dc-start DIR     start it again (ready: an NTLM login got its answer)
#   stack.sh dc-restart DIR PROFILE   restart the DC with another dc.sh profile
#                             (default, hardened, ntlm-disabled)
#   stack.sh down DIR         stop everything and delete DIR
#   stack.sh deps             scripts/deps.sh, but only if something is missing
#
# DIR/stack.env, shell-sourceable KEY=value lines, tells tests where things
# are: URL APACHE_PORT AUTHZ_ADDR DC_IP DC_DIR CONF BIN AUTHZ_LOG
# APACHE_ERROR_LOG APACHE_ACCESS_LOG and more (see write_env). AUTHZ_ADDR is
# 127.0.0.1 and a free port below 1024, which only root can bind: root
# holds it for the authorizer as systemd's ntlm-fcgi-authorizer.socket does
# (see start_holder), so no other local user can take it, ever. The same
# locations over HTTPS: HTTPS_URL (https://www.example.test:HTTPS_PORT/; the
# name is not in DNS: curl --resolve www.example.test:HTTPS_PORT:127.0.0.1,
# Chromium --host-resolver-rules), HTTPS_PORT, HTTPS_CA (the throwaway CA
# that signed the site's certificate; clients trust this file).
# For Kerberos: KRB5_CONFIG KRB5_REALM SPN_HOST (the same name) SERVICE_PRINCIPAL
# HOST_URL KEYTAB KEYTAB_OLD_KVNO KEYTAB_RC4 KEYTAB_OTHER.
# For delegation (README "Delegation"): DELEGATE_URL (a location handing its
# CGIs the user's credential cache; its ldapwho prints the DN the DC's LDAP
# gives the user it reaches with it), CCACHE_DIR, CCACHE_IDLE, NODELEG_USER
# and NODELEG_PASS (an account "sensitive and cannot be delegated").
#
# Environment, read by "up":
#   STACK_LOG_LEVEL        the authorizer's log_level (default info)
#   STACK_APACHE_LOGLEVEL  Apache's LogLevel (default warn)
#   STACK_CONF_FILE        authorizer config template to use instead of
#                          apache/stack-conf.toml.in (same @PLACEHOLDERS@)
#   STACK_CONF_EXTRA       TOML appended to the config (new tables only: it
#                          lands after the template's last table)
#   STACK_GROUPS_TTL       [groups] cache_ttl (default 3h; make test: 30s)
#   STACK_CCACHE_IDLE      [delegation] ccache_idle (default 10s: tests see
#                          the files go)
#   STACK_APACHE_PORT, STACK_AUTHZ_PORT, STACK_HTTPS_PORT   fixed ports instead of free ones
#                          (STACK_AUTHZ_PORT: below 1024, or -check warns)
#   STACK_NO_BUILD=1       do not run go build (use the binaries in DIR/bin)
#   STACK_DC_PROFILE       the DC's profile (scripts/dc.sh: default, hardened,
#                          ntlm-disabled); default: the DC's last one; with
#                          ntlm-disabled, the authorizer checks Basic by the KDC
#   STACK_MANY_GROUPS=0    no user manygroups in 1,000 groups (scripts/dc.sh)
#   STACK_DC_DIR           use the running DC of another stack (its DIR/dc)
#                          instead of starting one: DIR/dc links to it, and
#                          "down" leaves it running. A second Apache and
#                          authorizer sharing a DC (scripts/cluster.sh)
#   STACK_METRICS_ADDR     the authorizer's metrics_listen (default IP:9309,
#                          which only one stack per IP can have)
#   STACK_APACHE_EXTRA     Apache configuration appended to httpd.conf
#   STACK_REPLAY_REDIS_URL [replay] redis_url: the Kerberos replay cache in
#                          this Redis (scripts/cluster.sh: shared by the nodes)
#   STACK_SITE_TLS_DIR     take the site's HTTPS certificate and CA from this
#                          tls-site directory of another stack (one site,
#                          several nodes) instead of making them
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
export PATH=$PATH:/usr/local/go/bin

usage() {
	sed -n '7,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

say() { echo "stack.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}

# deps.sh stops Debian's samba/smbd/apache2 services, and its "service smbd
# stop" (start-stop-daemon --exec) kills EVERY smbd on the machine, including
# the smbd of any running test DC. So run it only when something is missing.
deps() {
	local c missing=
	for c in samba samba-tool smbclient ldapsearch apache2 curl wrk openssl ss setpriv systemd-socket-activate chromium firefox-esr kinit faketime ldbmodify dpkg-deb fakeroot lintian haproxy redis-server; do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	[ -e /usr/lib/apache2/modules/mod_authnz_external.so ] || missing="$missing mod_authnz_external"
	[ -e /usr/lib/apache2/modules/mod_auth_gssapi.so ] || missing="$missing mod_auth_gssapi"
	/usr/bin/python3 -c 'import requests_ntlm' >/dev/null 2>&1 || missing="$missing requests_ntlm"
	[ -z "$missing" ] && return 0
	say "missing:$missing; running scripts/deps.sh"
	bash "$here/deps.sh"
}

cmd=${1:-}
if [ "$cmd" = deps ]; then
	deps
	exit 0
fi
[ -n "$cmd" ] && [ -n "${2:-}" ] || usage
case $2 in *[[:space:]]*) die "the directory must not contain blanks (mod_authnz_external splits its command line on them): $2" ;; esac
[ "$2" != / ] || die "refusing / as the stack directory"

# The stack directory, absolute; not created here (down/status must not).
if [ -d "$2" ]; then
	dir=$(cd "$2" && pwd)
else
	case $2 in /*) dir=$2 ;; *) dir=$PWD/$2 ;; esac
	dir=${dir%/}
fi

authz_pidf=$dir/authorizer.pid
holder_pidf=$dir/authorizer-socket.pid
authz_log=$dir/authorizer.log
apache_pidf=$dir/apache/apache2.pid

alive() { # pidfile
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

port_open() { # host port
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

port_used() { # port: anything on 127.0.0.1/any address with this local port
	[ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
}

free_port() { # [excluded port]
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		[ "$p" != "${1:-}" ] || continue
		port_used "$p" || {
			echo "$p"
			return 0
		}
	done
	die "no free TCP port found"
}

free_privileged_port() { # for the authorizer: below 1024, where only root binds
	local p i
	for i in $(seq 1 200); do
		p=$((600 + RANDOM % 424))
		port_used "$p" || {
			echo "$p"
			return 0
		}
	done
	die "no free TCP port below 1024 found"
}

# wait_port NAME HOST PORT PIDFILE LOG SECONDS
wait_port() {
	local name=$1 host=$2 port=$3 pidf=$4 log=$5 deadline=$((SECONDS + $6))
	while ! port_open "$host" "$port"; do
		if ! alive "$pidf"; then
			say "$name exited before it listened on $host:$port; last lines of $log:"
			tail -n 30 "$log" >&2 || true
			return 1
		fi
		if [ $SECONDS -ge "$deadline" ]; then
			say "$name did not listen on $host:$port within $6 s; last lines of $log:"
			tail -n 30 "$log" >&2 || true
			return 1
		fi
		sleep 0.1
	done
}

stop_pid() { # pidfile name
	local pid
	pid=$(cat "$1" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		# Started with setsid: the pid leads its own process group.
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "$2 (pid $pid) did not stop within 10 s; killing it"
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$1"
}

load_env() {
	[ -f "$dir/stack.env" ] || die "no stack in $dir (no $dir/stack.env); run: stack.sh up $dir"
	# shellcheck disable=SC1091
	. "$dir/stack.env"
	pub=$PUB
}

# The authorizer runs as its own system user (authz_user), not as Apache's:
# it alone holds the LDAP password and writes the groups cache, which
# ntlm-group-check, run by Apache as www-data, only reads (and asks the
# authorizer over the cache directory's socket on a miss). So nothing running
# as www-data can forge a membership.
#
# DIR itself is root's alone (0700): it holds the DC's database (password
# hashes), the service account's password and Apache's config. What the
# authorizer's user or www-data must read goes to PUB, a directory in /tmp
# recorded in DIR/pub. So the stack is laid out the same whether the
# checkout is under a private directory (/root, mktemp -d) or not, and a
# test that hands the daemon a file in DIR fails everywhere, not only in a
# private checkout (test/e2e: stack.daemonFile).
authz_user=goauthenntlm

# Kerberos: the realm of scripts/dc.sh, and the site's host name, whose
# service principal HTTP/$SPN_HOST the DC's svc-http has. Clients reach it
# on 127.0.0.1 by the stack's own means (curl --resolve, Chromium
# --host-resolver-rules, the DC's DNS), never /etc/hosts.
KRB5_REALM=EXAMPLE.TEST
KRB5_DOMAIN=example.test
SPN_HOST=www.$KRB5_DOMAIN
run_authz=(setpriv --reuid=$authz_user --regid=$authz_user --init-groups --)

ensure_authz_user() {
	id -u "$authz_user" >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$authz_user" ||
		die "could not create the system user $authz_user"
}

choose_pub() {
	if [ -f "$dir/pub" ] && [ -d "$(cat "$dir/pub")" ]; then
		pub=$(cat "$dir/pub")
	else
		pub=$(mktemp -d /tmp/goauthenntlm-stack.XXXXXX)
		chmod 755 "$pub"
		echo "$pub" >"$dir/pub"
	fi
}

setup_files() {
	local d
	mkdir -p "$pub/bin" "$pub/apache/htdocs" "$pub/apache/cgi-bin" "$pub/apache/run" "$dir/apache"
	for d in public private delegate webusers powerusers outsiders epa/required epa/when-sent expr/webusers expr/powerusers expr/outsiders authz/webusers authz/powerusers authz/outsiders; do
		mkdir -p "$pub/apache/htdocs/$d"
		# exactly 100 bytes, for the benchmarks
		printf '%-99s\n' "GoAuthenNTLM test file in /$d/" >"$pub/apache/htdocs/$d/file.txt"
	done
	# The test site's ErrorDocument 401 (a local one: see test-site.conf.in).
	echo "authentication required" >"$pub/apache/htdocs/public/401.txt"
	# Both read the request body: Apache resets a POST whose CGI leaves it
	# unread (AH00574), which browsers see as ERR_INCOMPLETE_CHUNKED_ENCODING.
	cat >"$pub/apache/cgi-bin/whoami" <<-'EOF'
		#!/bin/sh
		cat >/dev/null
		printf 'Content-Type: text/plain\r\n\r\n%s\n' "${REMOTE_USER-}"
	EOF
	cat >"$pub/apache/cgi-bin/env" <<-'EOF'
		#!/bin/sh
		n=$(wc -c | tr -d ' ')
		printf 'Content-Type: text/plain\r\n\r\n'
		{ env; echo "STDIN_BYTES=$n"; } | LC_ALL=C sort
	EOF
	# What the DC's LDAP says the user is, reached with the credential
	# cache the authorizer handed as KRB5CCNAME (the delegating location
	# /delegate/; README "Delegation"): the DN of the first SID of the bound
	# user's tokenGroups (Samba has no LDAP "who am I" operation).
	cat >"$pub/apache/cgi-bin/ldapwho" <<-'EOF'
		#!/usr/bin/python3
		import base64, os, struct, subprocess, sys
		sys.stdin.read()
		print("Content-Type: text/plain\r\n\r", flush=True)
		if not os.environ.get("KRB5CCNAME"):
		    print("no KRB5CCNAME")
		    sys.exit(0)
		def ldap(*args):
		    r = subprocess.run(["ldapsearch", "-N", "-Q", "-LLL", "-o", "ldif-wrap=no", "-Y", "GSSAPI",
		                        "-H", "ldap://" + os.environ["LDAP_DC"]] + list(args),
		                       capture_output=True, text=True, timeout=20)
		    if r.returncode != 0:
		        print("ldapsearch failed:", r.stderr.strip().replace("\n", " "))
		        sys.exit(0)
		    return r.stdout.splitlines()
		tg = [l.split(":: ", 1)[1] for l in ldap("-b", "", "-s", "base", "tokenGroups") if l.startswith("tokenGroups:: ")]
		b = base64.b64decode(tg[0])
		n = b[1]
		sid = "S-%d-%d-" % (b[0], int.from_bytes(b[2:8], "big")) + "-".join(map(str, struct.unpack("<%dI" % n, b[8:8 + 4 * n])))
		print(next((l for l in ldap("-b", os.environ["LDAP_BASE"], "(objectSid=%s)" % sid, "dn") if l.startswith("dn: ")), "no DN for " + sid))
	EOF
	chmod 755 "$pub/apache/cgi-bin/whoami" "$pub/apache/cgi-bin/env" "$pub/apache/cgi-bin/ldapwho"
	chmod -R a+rX "$pub/apache" "$pub/bin"

	install -m 0640 -o root -g "$authz_user" "$dir/dc/svc-ntlm.pass" "$pub/ldap.pass"
	# The caller secret, as scripts/install.sh makes it: the
	# authorizer reads the file, Apache's config passes the value.
	if [ ! -s "$pub/caller.secret" ]; then
		install -m 0640 -o root -g "$authz_user" /dev/null "$pub/caller.secret"
		head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$pub/caller.secret"
	fi
	chgrp "$authz_user" "$pub/caller.secret" # stacks from before the authorizer had its own user
	# Apache's copy, as install.sh writes /etc/goauthenntlm/apache-secret.conf:
	# 0600 root, included by httpd.conf (Apache reads its config as root).
	(umask 077 && printf 'RequestHeader set GoAuthenNTLM-Secret "%s" early\n' "$(tr -d '[:space:]' <"$pub/caller.secret")" >"$dir/apache/secret.conf.tmp")
	mv "$dir/apache/secret.conf.tmp" "$dir/apache/secret.conf"
	install -m 0644 "$dir/dc/tls/ca.pem" "$pub/ca.pem"
	# Kerberos (scripts/dc.sh made them once): the keytabs, secrets the
	# authorizer reads as an administrator would install them, and the
	# clients' krb5.conf.
	local kt
	for kt in http.keytab http-oldkvno.keytab http-rc4.keytab other.keytab; do
		install -m 0640 -o root -g "$authz_user" "$dir/dc/kerberos/$kt" "$pub/$kt"
	done
	install -m 0644 "$dir/dc/krb5.conf" "$pub/krb5.conf"
	# The groups cache: the authorizer writes, Apache's group (ntlm-group-check)
	# only reads, other users have no access (2750; setgid so new files take
	# www-data's group; the authorizer makes them 0640).
	# PUB is root's, so the authorizer's user cannot replace groups-cache by
	# a link. Inside it, what root does must not follow the links that user
	# can plant: chown -R follows none (it changes a link itself), and the
	# files' modes are set as their owner, the authorizer's user, since
	# chmod as root would follow a file swapped for a link after find saw it.
	mkdir -p "$pub/groups-cache"
	chown -R "$authz_user:www-data" "$pub/groups-cache"
	chmod 02750 "$pub/groups-cache"
	"${run_authz[@]}" find "$pub/groups-cache" -type f -exec chmod 0640 {} +
	# The authorizer's state directory (systemd's StateDirectory=): the
	# Kerberos replay file, which outlives restart-authz. Its user's alone.
	install -d -m 0700 -o "$authz_user" -g "$authz_user" "$pub/state"
	# The credential caches handed to the application ([delegation]): the
	# authorizer's, group www-data, setgid, nothing for others (2710): its
	# 0640 files are readable by Apache's CGIs alone. It removes what an
	# earlier run left at its start.
	mkdir -p "$pub/ccache"
	chown "$authz_user:www-data" "$pub/ccache"
	chmod 02710 "$pub/ccache"
}

fill() { # template -> stdout, replacing the @PLACEHOLDERS@
	sed -e "s|@DIR@|$dir|g" -e "s|@PUB@|$pub|g" \
		-e "s|@PORT@|$APACHE_PORT|g" -e "s|@AUTHZ_ADDR@|$AUTHZ_ADDR|g" \
		-e "s|@GROUPCHECK@|$BIN/ntlm-group-check|g" -e "s|@CONF@|$CONF|g" \
		-e "s|@LOGLEVEL@|${STACK_APACHE_LOGLEVEL:-warn}|g" \
		-e "s|@LOG_LEVEL@|${STACK_LOG_LEVEL:-info}|g" -e "s|@DC_IP@|$DC_IP|g" \
		-e "s|@LDAP_PASSFILE@|$pub/ldap.pass|g" -e "s|@LDAP_CA@|$pub/ca.pem|g" \
		-e "s|@CACHE_DIR@|$pub/groups-cache|g" -e "s|@GROUPS_TTL@|$GROUPS_TTL|g" \
		-e "s|@REPLAY_FILE@|$pub/state/replay|g" \
		-e "s|@CCACHE_DIR@|$pub/ccache|g" -e "s|@CCACHE_IDLE@|$CCACHE_IDLE|g" \
		-e "s|@REPLAY_REDIS@|${STACK_REPLAY_REDIS_URL:+redis_url = \"$STACK_REPLAY_REDIS_URL\"}|g" \
		-e "s|@CALLER_SECRET_FILE@|$pub/caller.secret|g" \
		-e "s|@HTTPS_PORT@|$HTTPS_PORT|g" -e "s|@HTTPS_HOST@|$HTTPS_HOST|g" \
		-e "s|@SITE_CERT@|$dir/tls-site/site.pem|g" -e "s|@SITE_KEY@|$dir/tls-site/site.key|g" \
		-e "s|@METRICS_ADDR@|$METRICS_ADDR|g" \
		-e "s|@KEYTAB@|$pub/http.keytab|g" -e "s|@SPN_HOST@|$SPN_HOST|g" \
		-e "s|@KRB5_REALM@|$KRB5_REALM|g" -e "s|@KRB5_CONFIG@|$pub/krb5.conf|g" \
		-e "s|@BASIC@|$(basic_check)|g" "$1"
}

# basic_check is how the stack's authorizer checks Basic passwords: by the
# KDC when the DC refuses NTLM (profile ntlm-disabled), else relayed as NTLM.
basic_check() {
	if [ "$(cat "$dir/dc/profile" 2>/dev/null)" = ntlm-disabled ]; then
		echo kerberos
	else
		echo ntlm
	fi
}

# The site's HTTPS certificate (Extended Protection, issue 24), for
# HTTPS_HOST and 127.0.0.1, from a throwaway CA of this stack. Apache reads
# both as root before it drops to www-data, so they stay in DIR (keys
# 0600); clients get the CA as PUB/https-ca.pem.
HTTPS_HOST=$SPN_HOST # the site has one host name, for Kerberos and HTTPS
site_tls() {
	local t=$dir/tls-site
	if [ ! -s "$t/site.pem" ] && [ -n "${STACK_SITE_TLS_DIR:-}" ]; then
		[ -s "$STACK_SITE_TLS_DIR/site.pem" ] || die "STACK_SITE_TLS_DIR $STACK_SITE_TLS_DIR has no site.pem"
		mkdir -p "$t"
		chmod 0700 "$t"
		cp -p "$STACK_SITE_TLS_DIR/ca.pem" "$STACK_SITE_TLS_DIR/site.pem" "$STACK_SITE_TLS_DIR/site.key" "$t/"
	fi
	if [ ! -s "$t/site.pem" ]; then
		mkdir -p "$t"
		chmod 0700 "$t"
		(
			umask 077
			openssl req -x509 -newkey rsa:2048 -sha256 -days 3650 -nodes -subj "/CN=GoAuthenNTLM test stack CA" \
				-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
				-keyout "$t/ca.key" -out "$t/ca.pem"
			openssl req -newkey rsa:2048 -nodes -subj "/CN=$HTTPS_HOST" -keyout "$t/site.key" -out "$t/site.csr"
			printf 'subjectAltName=DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$HTTPS_HOST" >"$t/site.ext"
			openssl x509 -req -sha256 -days 3650 -in "$t/site.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
				-extfile "$t/site.ext" -out "$t/site.pem.tmp"
			mv "$t/site.pem.tmp" "$t/site.pem"
		) >"$t/openssl.log" 2>&1 || {
			cat "$t/openssl.log" >&2
			die "could not make the site's HTTPS certificate"
		}
	fi
	install -m 0644 "$t/ca.pem" "$pub/https-ca.pem"
}

write_conf() {
	local tmpl=${STACK_CONF_FILE:-$root/apache/stack-conf.toml.in}
	[ -f "$tmpl" ] || die "STACK_CONF_FILE $tmpl does not exist"
	{
		fill "$tmpl"
		if [ -n "${STACK_CONF_EXTRA:-}" ]; then
			printf '\n# STACK_CONF_EXTRA\n%s\n' "$STACK_CONF_EXTRA"
		fi
	} >"$CONF.tmp"
	chown root:"$authz_user" "$CONF.tmp"
	chmod 0640 "$CONF.tmp"
	mv "$CONF.tmp" "$CONF"
	# The e2e tests' copy of the config as written (stack_test.go,
	# originalConf) is of the one replaced.
	rm -f "$dir/conf.toml.orig"
}

write_env() {
	cat >"$dir/stack.env.tmp" <<-EOF
		# GoAuthenNTLM test stack, written by scripts/stack.sh; KEY=value, no quoting needed
		URL=http://127.0.0.1:$APACHE_PORT/
		APACHE_PORT=$APACHE_PORT
		AUTHZ_ADDR=$AUTHZ_ADDR
		AUTHZ_SOCKET_PID_FILE=$holder_pidf
		METRICS_ADDR=$METRICS_ADDR
		DC_IP=$DC_IP
		DC_DIR=$dir/dc
		STACK_DIR=$dir
		STACK_SH=$here/stack.sh
		PUB=$pub
		CONF=$CONF
		BIN=$BIN
		AUTHZ_LOG=$authz_log
		AUTHZ_PID_FILE=$authz_pidf
		APACHE_CONF=$dir/apache/httpd.conf
		APACHE_ERROR_LOG=$dir/apache/error.log
		APACHE_ACCESS_LOG=$dir/apache/access.log
		APACHE_PID_FILE=$apache_pidf
		AUTHZ_USER=$authz_user
		LDAP_URL=ldaps://$DC_IP
		LDAP_CA=$pub/ca.pem
		LDAP_PASSFILE=$pub/ldap.pass
		LDAP_BIND=svc-ntlm@EXAMPLE.TEST
		GROUPS_CACHE=$pub/groups-cache
		REPLAY_FILE=$pub/state/replay
		GROUPS_TTL=$GROUPS_TTL
		KRB5_CONFIG=$pub/krb5.conf
		KRB5_REALM=$KRB5_REALM
		SPN_HOST=$SPN_HOST
		SERVICE_PRINCIPAL=HTTP/$SPN_HOST
		HOST_URL=http://$SPN_HOST:$APACHE_PORT/
		KEYTAB=$pub/http.keytab
		KEYTAB_OLD_KVNO=$pub/http-oldkvno.keytab
		KEYTAB_RC4=$pub/http-rc4.keytab
		KEYTAB_OTHER=$pub/other.keytab
		OTHER_SPN_HOST=other.$KRB5_DOMAIN
		RC4_SPN_HOST=rc4.$KRB5_DOMAIN
		HTTPS_URL=https://$HTTPS_HOST:$HTTPS_PORT/
		HTTPS_PORT=$HTTPS_PORT
		HTTPS_HOST=$HTTPS_HOST
		HTTPS_CA=$pub/https-ca.pem
		HTTPS_CERT=$dir/tls-site/site.pem
		DELEGATE_URL=http://$SPN_HOST:$APACHE_PORT/delegate/
		CCACHE_DIR=$pub/ccache
		CCACHE_IDLE=$CCACHE_IDLE
		NODELEG_USER=carol
		NODELEG_PASS=C4rol!Pass
	EOF
	mv "$dir/stack.env.tmp" "$dir/stack.env"
}

build() {
	say "building ./cmd/... into $BIN"
	if ! (cd "$root" && go build -o "$BIN/" ./cmd/...); then
		say "go build ./cmd/... failed (errors above)"
		return 1
	fi
	chmod -f 755 "$BIN"/* || true
	[ -x "$BIN/ntlm-group-check" ] ||
		say "WARNING: go build ./cmd/... produced no ntlm-group-check: the group locations answer 401"
	[ -x "$BIN/ntlm-fcgi-authorizer" ] || {
		say "go build ./cmd/... produced no ntlm-fcgi-authorizer"
		return 1
	}
}

# The authorizer's address is held by root, as systemd's
# ntlm-fcgi-authorizer.socket holds it on a real system: a port below 1024,
# which no other user can bind, kept open while the authorizer restarts or
# is stopped, so that no local user can take it in the meantime and receive
# Apache's requests (the caller secret with them) and answer them. Apache's
# connections then wait in the socket's backlog for the next authorizer
# (mod_authnz_fcgi gives up after 30 s with a 500: never a 200).
#
# The holder is systemd-socket-activate (Debian's systemd package: the same
# LISTEN_FDS/LISTEN_PID hand-over as the unit, and no binding code of ours).
# It binds, waits for a first connection, then execs "stack.sh hold-authz",
# which keeps the socket as descriptor 3 and starts the authorizer as its
# user with it, whenever start_authz signals it (SIGUSR1). A small script
# of ours could bind and hand over too; this exercises the daemon exactly
# as systemd starts it.
start_holder() {
	alive "$holder_pidf" && [ -e "$dir/authorizer-socket.ready" ] && return 0
	stop_pid "$holder_pidf" "the authorizer's socket holder"
	rm -f "$dir/authorizer-socket.ready"
	echo "--- $(date '+%F %T') socket $AUTHZ_ADDR" >>"$authz_log"
	setsid systemd-socket-activate -l "$AUTHZ_ADDR" -- bash "$here/stack.sh" hold-authz "$dir" \
		>>"$authz_log" 2>&1 </dev/null &
	echo $! >"$holder_pidf"
	local deadline=$((SECONDS + 10))
	until [ -e "$dir/authorizer-socket.ready" ]; do
		if ! alive "$holder_pidf" || [ $SECONDS -ge "$deadline" ]; then
			say "could not hold $AUTHZ_ADDR for the authorizer; last lines of $authz_log:"
			tail -n 5 "$authz_log" >&2 || true
			stop_pid "$holder_pidf" "the authorizer's socket holder"
			return 1
		fi
		# The first connection makes systemd-socket-activate exec the
		# holder; the authorizer accepts it later and reads its end.
		port_open "${AUTHZ_ADDR%:*}" "${AUTHZ_ADDR##*:}" || true
		sleep 0.1
	done
}

# hold_authz is the holder (root, descriptor 3 the listening socket):
# SIGUSR1 starts the authorizer if it is not running, SIGTERM stops it
# and lets the socket go.
hold_authz() {
	[ "${LISTEN_FDS:-}" = 1 ] || die "hold-authz: no socket passed (run by start_holder)"
	unset LISTEN_PID LISTEN_FDS LISTEN_FDNAMES
	trap 'spawn_authz' USR1
	trap 'stop_pid "$authz_pidf" ntlm-fcgi-authorizer; exit 0' TERM INT
	: >"$dir/authorizer-socket.ready"
	while :; do
		sleep 1 3>&- &
		wait $! || true
	done
}

# spawn_authz starts the authorizer with the held socket, as its own
# session (stop_pid stops its group), in a subshell whose pid the exec'd
# daemon keeps: LISTEN_PID names it.
spawn_authz() {
	alive "$authz_pidf" && return 0
	load_env
	echo "--- $(date '+%F %T') start" >>"$authz_log"
	(
		export LISTEN_PID=$BASHPID LISTEN_FDS=1
		exec setsid "${run_authz[@]}" "$BIN/ntlm-fcgi-authorizer" -config "$CONF"
	) >>"$authz_log" 2>&1 </dev/null &
	echo $! >"$authz_pidf"
}

# fcgi_answers HOST PORT: a FastCGI request on a new connection is answered
# within a second. An open port says nothing here: the held socket takes
# connections into its backlog whether an authorizer runs or not.
fcgi_answers() {
	# An empty FCGI_GET_VALUES management record: answered, never logged.
	timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1" &&
		printf "\x01\x09\x00\x00\x00\x00\x00\x00" >&3 &&
		[ -n "$(head -c 1 <&3 | od -An -tx1)" ]' "$1" "$2" 2>/dev/null
}

start_authz() {
	alive "$authz_pidf" && return 0
	[ -x "$BIN/ntlm-fcgi-authorizer" ] || {
		say "no $BIN/ntlm-fcgi-authorizer"
		return 1
	}
	if ! "${run_authz[@]}" "$BIN/ntlm-fcgi-authorizer" -config "$CONF" -check >"$dir/authorizer.check" 2>&1; then
		say "ntlm-fcgi-authorizer -config $CONF -check failed:"
		cat "$dir/authorizer.check" >&2
		return 1
	fi
	# Warnings (a secret file another group can read, say) do not stop it.
	[ ! -s "$dir/authorizer.check" ] || cat "$dir/authorizer.check" >&2
	start_holder || return 1
	rm -f "$authz_pidf"
	kill -USR1 "$(cat "$holder_pidf")"
	local deadline=$((SECONDS + 20))
	until alive "$authz_pidf" && fcgi_answers "${AUTHZ_ADDR%:*}" "${AUTHZ_ADDR##*:}"; do
		if [ $SECONDS -ge "$deadline" ] || { [ -s "$authz_pidf" ] && ! alive "$authz_pidf"; }; then
			say "ntlm-fcgi-authorizer does not answer on $AUTHZ_ADDR; last lines of $authz_log:"
			tail -n 30 "$authz_log" >&2 || true
			return 1
		fi
		sleep 0.1
	done
}

apache_args() { echo -f "$dir/apache/httpd.conf" -DFOREGROUND -DSTACK_ROOT; }

start_apache() {
	alive "$apache_pidf" && return 0
	# shellcheck disable=SC2046
	apache2 $(apache_args) -t >"$dir/apache/configtest.log" 2>&1 || {
		say "apache2 -t rejects $dir/apache/httpd.conf:"
		cat "$dir/apache/configtest.log" >&2
		return 1
	}
	# shellcheck disable=SC2046
	setsid apache2 $(apache_args) >>"$dir/apache/stderr.log" 2>&1 </dev/null &
	echo $! >"$apache_pidf"
	if ! wait_port apache2 127.0.0.1 "$APACHE_PORT" "$apache_pidf" "$dir/apache/error.log" 20; then
		tail -n 10 "$dir/apache/stderr.log" >&2 || true
		return 1
	fi
}

print_info() {
	cat <<-EOF

		URL=$URL
		HTTPS_URL=https://$HTTPS_HOST:$HTTPS_PORT/ (curl --cacert $pub/https-ca.pem --resolve $HTTPS_HOST:$HTTPS_PORT:127.0.0.1)
		Test logins (domain EXAMPLE):
		  EXAMPLE\\jdoe   Secr3t!Pass    groups WebUsers, PowerUsers (via WebUsers)
		  EXAMPLE\\alice  Al1ce!Pass     no groups
		  EXAMPLE\\bob    B0b!Passw0rd   group Outsiders
		  EXAMPLE\\carol  C4rol!Pass     "sensitive and cannot be delegated"
		Try:
		  curl --ntlm -u 'EXAMPLE\\jdoe:Secr3t!Pass' ${URL}private/whoami
		  curl --ntlm -u 'EXAMPLE\\jdoe:Secr3t!Pass' ${URL}webusers/whoami
		  curl ${URL}public/file.txt
		Kerberos (MIT krb5-user; $SPN_HOST is 127.0.0.1 by --resolve, not /etc/hosts):
		  export KRB5_CONFIG=$pub/krb5.conf
		  kinit jdoe@$KRB5_REALM
		  curl --negotiate -u : --resolve $SPN_HOST:$APACHE_PORT:127.0.0.1 http://$SPN_HOST:$APACHE_PORT/private/whoami
		Basic over HTTPS (checked $( [ "$(basic_check)" = kerberos ] && echo "by the KDC: the DC refuses NTLM" || echo "by NTLM at the DC")):
		  curl -u 'jdoe:Secr3t!Pass' --cacert $pub/https-ca.pem --resolve $HTTPS_HOST:$HTTPS_PORT:127.0.0.1 https://$HTTPS_HOST:$HTTPS_PORT/private/whoami
		A user in 1,000 groups (a Kerberos ticket of about 12 KiB): manygroups  M4ny!Groups
		Delegation: /delegate/ldapwho prints what the DC's LDAP says the user is, reached as the user:
		  curl --negotiate -u : --delegation always --resolve $SPN_HOST:$APACHE_PORT:127.0.0.1 http://$SPN_HOST:$APACHE_PORT/delegate/ldapwho
		Locations: /public/ (open) /private/ (any login); groups: /webusers/ /powerusers/ /outsiders/
		           (ntlm-group-check), the same under /expr/ (Require expr) and /authz/ (authz provider)
		Files: $dir/stack.env, config $CONF
		Logs:  $authz_log
		       $dir/apache/error.log $dir/apache/access.log
		Stop:  $here/stack.sh down $dir
	EOF
}

status() {
	local rc=0
	if alive "$apache_pidf"; then echo "apache2:              running (pid $(cat "$apache_pidf")) on 127.0.0.1:$APACHE_PORT"; else
		echo "apache2:              NOT running"
		rc=1
	fi
	if alive "$authz_pidf"; then echo "ntlm-fcgi-authorizer: running (pid $(cat "$authz_pidf")) on $AUTHZ_ADDR"; else
		echo "ntlm-fcgi-authorizer: NOT running"
		rc=1
	fi
	if alive "$holder_pidf"; then echo "authorizer's socket:  held by root (pid $(cat "$holder_pidf")) on $AUTHZ_ADDR"; else
		echo "authorizer's socket:  NOT held"
		rc=1
	fi
	if alive "$dir/dc/samba.pid"; then echo "samba DC:             running (pid $(cat "$dir/dc/samba.pid")) on $DC_IP"; else
		echo "samba DC:             NOT running"
		rc=1
	fi
	return $rc
}

dc_up() { # ip
	if [ -n "${STACK_DC_DIR:-}" ]; then
		shared_dc "$1"
		return
	fi
	bash "$here/dc.sh" up "$dir/dc" "$1" "${STACK_DC_PROFILE:-}"
}

# shared_dc IP: DIR/dc becomes a link to STACK_DC_DIR, a DC another stack
# runs on IP; it must be up (this stack neither starts nor stops it).
shared_dc() {
	local d
	d=$(cd "$STACK_DC_DIR" 2>/dev/null && pwd) || die "STACK_DC_DIR $STACK_DC_DIR does not exist"
	[ -e "$d/provisioned" ] || die "STACK_DC_DIR $d holds no provisioned DC"
	[ "$(cat "$d/ip")" = "$1" ] || die "the DC in $d runs on $(cat "$d/ip"), not $1"
	alive "$d/samba.pid" || die "the DC in $d is not running"
	if [ ! -L "$dir/dc" ]; then
		[ ! -e "$dir/dc" ] || die "$dir/dc exists and is not a link to a shared DC"
		ln -s "$d" "$dir/dc"
	fi
}

up() {
	local ip=${1:-127.0.0.10} authz_ok=1
	case $ip in 127.*) ;; *) die "$ip is not a loopback address" ;; esac
	[ "$(id -u)" = 0 ] || die "needs root (the Samba DC, and Apache serving as www-data)"
	mkdir -p "$dir"
	chmod 0700 "$dir"
	dir=$(cd "$dir" && pwd)
	authz_pidf=$dir/authorizer.pid authz_log=$dir/authorizer.log apache_pidf=$dir/apache/apache2.pid
	holder_pidf=$dir/authorizer-socket.pid
	unset APACHE_PORT AUTHZ_ADDR AUTHZ_SOCKET_PID_FILE GROUPS_TTL HTTPS_PORT CCACHE_IDLE METRICS_ADDR
	if [ -f "$dir/stack.env" ]; then
		load_env
		[ "$DC_IP" = "$ip" ] || die "the stack in $dir runs its DC on $DC_IP, not $ip; stack.sh down $dir first"
		if [ -z "${AUTHZ_SOCKET_PID_FILE:-}" ]; then
			# A stack from before root held the authorizer's address:
			# Apache and the authorizer move to a port below 1024.
			say "moving the authorizer from $AUTHZ_ADDR to an address root holds"
			stop_pid "$apache_pidf" apache2
			stop_pid "$authz_pidf" ntlm-fcgi-authorizer
			unset AUTHZ_ADDR
		fi
	fi

	deps
	if [ -e "$dir/dc/provisioned" ]; then
		say "starting the DC on $ip"
	else
		say "provisioning and starting the DC on $ip (about a minute)"
	fi
	dc_up "$ip"

	ensure_authz_user
	choose_pub
	setup_files
	DC_IP=$ip
	BIN=$pub/bin
	CONF=$pub/conf.toml
	if [ -z "${APACHE_PORT:-}" ]; then
		APACHE_PORT=${STACK_APACHE_PORT:-$(free_port)}
	fi
	if [ -z "${AUTHZ_ADDR:-}" ]; then
		AUTHZ_ADDR=127.0.0.1:${STACK_AUTHZ_PORT:-$(free_privileged_port)}
		# Several stacks pick at once: the one whose holder cannot bind
		# the port picks another.
		local try
		for try in 1 2 3 4 5; do
			start_holder && break
			[ -z "${STACK_AUTHZ_PORT:-}" ] && [ $try -lt 5 ] || die "no address for the authorizer"
			AUTHZ_ADDR=127.0.0.1:$(free_privileged_port)
		done
	fi
	if [ -z "${HTTPS_PORT:-}" ]; then
		HTTPS_PORT=${STACK_HTTPS_PORT:-$(free_port "$APACHE_PORT")}
		while [ "$HTTPS_PORT" = "${AUTHZ_ADDR##*:}" ]; do HTTPS_PORT=$(free_port "$APACHE_PORT"); done
	fi
	site_tls
	URL=http://127.0.0.1:$APACHE_PORT/
	# /metrics and /healthz on the stack's own loopback IP: no port to pick.
	METRICS_ADDR=${STACK_METRICS_ADDR:-${METRICS_ADDR:-$DC_IP:9309}}
	GROUPS_TTL=${STACK_GROUPS_TTL:-${GROUPS_TTL:-3h}}
	CCACHE_IDLE=${STACK_CCACHE_IDLE:-${CCACHE_IDLE:-10s}}
	write_env

	if ! alive "$authz_pidf"; then
		if [ "${STACK_NO_BUILD:-}" != 1 ]; then
			build || authz_ok=0
		fi
		write_conf
		if [ $authz_ok = 1 ]; then
			start_authz || authz_ok=0
		fi
	fi
	if ! alive "$apache_pidf"; then
		# 0600: only root needs it (Apache reads its config as root), and
		# it names the secret's file.
		(umask 077 && {
			fill "$root/apache/test-site.conf.in"
			if [ -n "${STACK_APACHE_EXTRA:-}" ]; then
				printf '\n# STACK_APACHE_EXTRA\n%s\n' "$STACK_APACHE_EXTRA"
			fi
		} >"$dir/apache/httpd.conf.tmp")
		mv "$dir/apache/httpd.conf.tmp" "$dir/apache/httpd.conf"
		start_apache || die "Apache did not start"
	fi
	print_info
	if [ $authz_ok = 0 ]; then
		cat >&2 <<-EOF

			stack.sh: *** THE AUTHORIZER IS NOT RUNNING (see the messages above). ***
			stack.sh: /public/ works; NTLM locations answer 500 (AH02495) until it runs.
			stack.sh: fix it, then run again: $here/stack.sh up $dir $ip
		EOF
		exit 3
	fi
	status >/dev/null || {
		status >&2
		exit 1
	}
}

down() {
	[ -e "$dir" ] || {
		say "$dir does not exist; nothing to do"
		return 0
	}
	if [ ! -f "$dir/stack.env" ] && [ ! -d "$dir/dc" ] && [ ! -d "$dir/apache" ]; then
		die "$dir does not look like a stack directory; not deleting it"
	fi
	stop_pid "$apache_pidf" apache2
	stop_pid "$authz_pidf" ntlm-fcgi-authorizer
	stop_pid "$holder_pidf" "the authorizer's socket holder"
	if [ -L "$dir/dc" ]; then
		rm -f "$dir/dc" # another stack's DC (STACK_DC_DIR): left running
	elif [ -d "$dir/dc" ]; then
		bash "$here/dc.sh" down "$dir/dc"
	fi
	if [ -f "$dir/pub" ]; then
		local p
		p=$(cat "$dir/pub")
		case $p in /tmp/goauthenntlm-stack.*) rm -rf "$p" ;; esac
	fi
	rm -rf "$dir"
	say "stack in $dir stopped and removed"
}

case $cmd in
up) up "${3:-}" ;;
down) down ;;
status)
	load_env
	cat "$dir/stack.env"
	echo
	status
	;;
restart-authz)
	load_env
	stop_pid "$authz_pidf" ntlm-fcgi-authorizer
	start_authz || exit 1
	say "ntlm-fcgi-authorizer restarted (pid $(cat "$authz_pidf")); $AUTHZ_ADDR stayed held"
	;;
stop-authz)
	load_env
	stop_pid "$authz_pidf" ntlm-fcgi-authorizer
	say "ntlm-fcgi-authorizer stopped; root still holds $AUTHZ_ADDR (stack.sh restart-authz starts it)"
	;;
hold-authz)
	hold_authz
	;;
start-authz)
	load_env
	start_authz || exit 1
	;;
free-port)
	# for scripts/cluster.sh: a port nothing uses, other than $3
	free_port "${3:-}"
	;;
restart-apache)
	load_env
	stop_pid "$apache_pidf" apache2
	start_apache || exit 1
	say "apache2 restarted (pid $(cat "$apache_pidf"))"
	;;
dc-stop)
	load_env
	bash "$here/dc.sh" stop "$dir/dc"
	;;
dc-start)
	load_env
	ip=$(cat "$dir/dc/ip")
	if ! ip -o addr show dev lo | grep -F "inet $ip/" >/dev/null; then
		ip addr add "$ip/32" dev lo
	fi
	bash "$here/dc.sh" start "$dir/dc"
	;;
dc-restart)
	load_env
	[ -n "${3:-}" ] || usage
	bash "$here/dc.sh" restart "$dir/dc" "$3"
	;;
*) usage ;;
esac
