#!/usr/bin/env bash
# dc.sh runs a throwaway Samba AD domain controller on one loopback address,
# for the demo and the tests. Never point it at anything but loopback.
#
#   dc.sh up      DIR IP [PROFILE]  provision (once) into DIR, bound to IP,
#                                   and start it
#   dc.sh stop    DIR               stop the DC, keeping its data (to test failover)
#   dc.sh start   DIR [PROFILE]     start it again after stop
#   dc.sh restart DIR PROFILE       stop it and start it with PROFILE
#   dc.sh down    DIR               stop it and delete DIR
#
# PROFILE (default: the last one used, at first "default") sets how the DC
# treats NTLM and SMB, without provisioning again:
#   default        Samba's defaults
#   hardened       as current Windows domains are: server min protocol =
#                  SMB3_11, server signing = mandatory, ntlm auth =
#                  ntlmv2-only, lanman auth = no, restrict anonymous = 2
#   ntlm-disabled  hardened, and ntlm auth = disabled: every NTLM login gets
#                  STATUS_NTLM_BLOCKED
# The DC is ready (start returns) once an NTLM login over SMB gets its real
# answer: success, or STATUS_NTLM_BLOCKED with ntlm-disabled.
#
# The fixed data set: domain EXAMPLE, realm EXAMPLE.TEST; users jdoe, alice,
# bob; groups WebUsers (jdoe), PowerUsers (the group WebUsers), Outsiders
# (bob); a service account svc-ntlm for LDAP group lookups, whose password is
# written to DIR/svc-ntlm.pass. The LDAPS certificate carries a
# subjectAltName for IP and dc1.example.test, signed by DIR/tls/ca.pem.
#
# Kerberos (set up once by "up", on a new or an existing DC; see kerberos()):
# service accounts with the SPNs HTTP/www.example.test (AES keys; keytab
# DIR/kerberos/http.keytab, and http-oldkvno.keytab with the key before its
# last password change), HTTP/other.example.test (AES; other.keytab) and
# HTTP/rc4.example.test (RC4 only; http-rc4.keytab); those three names as
# A records for 127.0.0.1 in the DC's DNS; and DIR/krb5.conf, a client
# krb5.conf for realm EXAMPLE.TEST with this DC as its KDC.
set -euo pipefail

cmd=${1:?usage: dc.sh up|stop|start|restart|down DIR [IP] [PROFILE]}
dir=${2:?usage: dc.sh up|stop|start|restart|down DIR [IP] [PROFILE]}
case $cmd in up) profile=${4:-} ;; *) profile=${3:-} ;; esac
case $profile in
'' | default | hardened | ntlm-disabled) ;;
*)
	echo "dc.sh: unknown profile $profile (default, hardened, ntlm-disabled)" >&2
	exit 2
	;;
esac
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf=$dir/etc/smb.conf
log=$dir/samba.log
# The profile's options, included from smb.conf's [global] section.
profile_conf=$dir/etc/profile.conf

ip_of() { cat "$dir/ip"; }

# samba_running fails, with the log's last lines, when the DC has exited.
samba_running() {
	kill -0 "$(cat "$dir/samba.pid" 2>/dev/null)" 2>/dev/null && return 0
	echo "dc.sh: samba exited; last lines of $log:" >&2
	tail -n 20 "$log" >&2
	return 1
}

wait_ports() {
	local ip=$1 deadline=$((SECONDS + 90))
	while :; do
		if ss -Hltn "src $ip" 2>/dev/null | grep ":445\b" >/dev/null &&
			ss -Hltn "src $ip" 2>/dev/null | grep ":636\b" >/dev/null; then
			# The ports open before the directory is ready to answer.
			if ldapsearch -x -LLL -H "ldap://$ip" -s base -b "" defaultNamingContext >/dev/null 2>&1; then
				return 0
			fi
		fi
		samba_running || return 1
		if [ $SECONDS -ge $deadline ]; then
			echo "dc.sh: samba did not open 445/636 on $ip within 90 s; see $log" >&2
			return 1
		fi
		sleep 0.5
	done
}

# wait_login waits until an NTLM login over SMB2/3 (smbclient, the service
# account) gets the DC's real answer. Open ports and an LDAP answer are not
# enough: for about a second after that, Samba answers NTLM logins with
# NT_STATUS_INTERNAL_ERROR. With ntlm auth = disabled the real answer is
# NT_STATUS_NTLM_BLOCKED.
wait_login() {
	local ip=$1 want=${2:-} deadline=$((SECONDS + 60)) out auth=$dir/svc-ntlm.auth
	if [ ! -s "$auth" ]; then
		(umask 077 && printf 'username = svc-ntlm\npassword = %s\ndomain = EXAMPLE\n' "$(cat "$dir/svc-ntlm.pass")" >"$auth")
	fi
	while :; do
		# -s /dev/null: not the host's smb.conf. The password is in a file,
		# not on the command line where ps shows it.
		if out=$(timeout 15 smbclient -s /dev/null -m SMB3 --use-kerberos=off -A "$auth" "//$ip/IPC\$" -c exit 2>&1); then
			[ -z "$want" ] && return 0
		elif [ -n "$want" ] && grep -F "$want" <<<"$out" >/dev/null; then
			return 0
		fi
		samba_running || return 1
		if [ $SECONDS -ge $deadline ]; then
			echo "dc.sh: no NTLM login to $ip succeeded within 60 s; the last attempt said: ${out:-nothing}" >&2
			echo "dc.sh: last lines of $log:" >&2
			tail -n 20 "$log" >&2
			return 1
		fi
		sleep 0.3
	done
}

# set_profile NAME writes the options of profile NAME, and remembers it.
set_profile() {
	local opts
	case $1 in
	default) opts= ;;
	*)
		opts='server min protocol = SMB3_11
server signing = mandatory
lanman auth = no
restrict anonymous = 2'
		if [ "$1" = hardened ]; then
			opts="$opts"$'\nntlm auth = ntlmv2-only'
		else
			opts="$opts"$'\nntlm auth = disabled'
		fi
		;;
	esac
	printf '# dc.sh profile %s\n%s\n' "$1" "$opts" >"$profile_conf"
	if ! grep -F "include = $profile_conf" "$conf" >/dev/null; then
		sed -i "s|^\[global\]\$|&\n\tinclude = $profile_conf|" "$conf"
	fi
	echo "$1" >"$dir/profile"
}

profile_of() { cat "$dir/profile" 2>/dev/null || echo default; }

start() { # [profile]
	local ip want=
	ip=$(ip_of)
	if kill -0 "$(cat "$dir/samba.pid" 2>/dev/null)" 2>/dev/null; then
		if [ -n "${1:-}" ] && [ "$1" != "$(profile_of)" ]; then
			echo "dc.sh: the DC runs with profile $(profile_of), not $1; switch with: dc.sh restart $dir $1" >&2
		fi
		return 0
	fi
	set_profile "${1:-$(profile_of)}"
	[ "$(profile_of)" = ntlm-disabled ] && want=NT_STATUS_NTLM_BLOCKED
	# -M single keeps it one process and light on a 2-core machine.
	#
	# Each DC gets its own /run/samba (a private mount namespace with
	# DIR/run bound there), so that several (demo, tests, development) run
	# side by side. Setting "pid directory", "ncalrpc dir" and "winbindd
	# socket directory" is not enough: smbd reaches winbindd, which checks
	# NTLM logins, through libwbclient, whose socket directory is built in
	# (/run/samba/winbindd); it would fail or ask another DC's winbindd.
	mkdir -p "$dir/run"
	setsid unshare --mount --propagation private sh -c \
		'mkdir -p /run/samba && mount --bind "$1" /run/samba && exec samba -s "$2" -i -M single' \
		sh "$dir/run" "$conf" >"$log" 2>&1 </dev/null &
	echo $! >"$dir/samba.pid"
	wait_ports "$ip"
	wait_login "$ip" "$want"
}

stop() {
	local pid
	pid=$(cat "$dir/samba.pid" 2>/dev/null || true)
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	rm -f "$dir/samba.pid"
}

make_cert() {
	local ip=$1 t=$dir/tls
	mkdir -p "$t"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=GoAuthenNTLM test CA" \
		-keyout "$t/ca.key" -out "$t/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.example.test" \
		-keyout "$t/key.pem" -out "$t/dc.csr" 2>/dev/null
	printf 'subjectAltName=DNS:dc1.example.test,DNS:dc1,IP:%s\nextendedKeyUsage=serverAuth\n' "$ip" >"$t/ext.cnf"
	openssl x509 -req -in "$t/dc.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
		-days 30 -extfile "$t/ext.cnf" -out "$t/cert.pem" 2>/dev/null
	chmod 600 "$t/key.pem" "$t/ca.key"
	chmod 644 "$t/ca.pem"
}

provision() {
	local ip=$1
	echo "$ip" >"$dir/ip"
	make_cert "$ip"
	# Samba's own DNS, on IP:53 only: it publishes the SRV records a domain
	# given by dns_name alone is found by (e2e: TestDCDiscoveryByDNS).
	samba-tool domain provision --targetdir="$dir" --realm=EXAMPLE.TEST --domain=EXAMPLE \
		--adminpass='Passw0rd!Adm' --server-role=dc --dns-backend=SAMBA_INTERNAL --host-ip="$ip" --host-name=dc1 \
		--option="interfaces=$ip" --option="bind interfaces only=yes" \
		--option="tls enabled=yes" --option="tls keyfile=$dir/tls/key.pem" \
		--option="tls certfile=$dir/tls/cert.pem" --option="tls cafile=$dir/tls/ca.pem" \
		>"$dir/provision.log" 2>&1 || { tail -n 20 "$dir/provision.log" >&2; return 1; }
	local st=(-s "$conf")
	samba-tool domain passwordsettings set --complexity=off --history-length=0 \
		--min-pwd-age=0 --max-pwd-age=0 "${st[@]}" >/dev/null
	samba-tool user create jdoe 'Secr3t!Pass' --given-name=John --surname=Doe "${st[@]}" >/dev/null
	samba-tool user create alice 'Al1ce!Pass' "${st[@]}" >/dev/null
	samba-tool user create bob 'B0b!Passw0rd' "${st[@]}" >/dev/null
	local svcpass
	svcpass="Svc-$(openssl rand -hex 12)"
	samba-tool user create svc-ntlm "$svcpass" "${st[@]}" >/dev/null
	umask 077
	printf '%s\n' "$svcpass" >"$dir/svc-ntlm.pass"
	umask 022
	samba-tool group add WebUsers "${st[@]}" >/dev/null
	samba-tool group add PowerUsers "${st[@]}" >/dev/null
	samba-tool group add Outsiders "${st[@]}" >/dev/null
	samba-tool group addmembers WebUsers jdoe "${st[@]}" >/dev/null
	samba-tool group addmembers PowerUsers WebUsers "${st[@]}" >/dev/null
	samba-tool group addmembers Outsiders bob "${st[@]}" >/dev/null
	touch "$dir/provisioned"
}

# service_account NAME SPN ENCTYPES creates the account NAME (again, if an
# earlier run stopped half-way) with a random password and the SPN, and sets
# its msDS-SupportedEncryptionTypes: 24 (AES128+AES256) or 4 (RC4). The KDC
# chooses the ticket's enctype, and exportkeytab the keys it exports, by that
# attribute; without it Samba treats the account as RC4-only (an RC4 keytab
# and RC4 tickets), though it has generated AES keys at the password set.
service_account() {
	local st=(-s "$conf")
	# ldbsearch, not samba-tool user show: a tenth of the time.
	if ldbsearch -H "$dir/private/sam.ldb" "(sAMAccountName=$1)" dn 2>/dev/null | grep '^dn: ' >/dev/null; then
		samba-tool user delete "$1" "${st[@]}" >/dev/null
	fi
	samba-tool user create "$1" --random-password "${st[@]}" >/dev/null
	samba-tool spn add "$2" "$1" "${st[@]}" >/dev/null
	# ldbmodify on the DC's own database (as samba-tool does, no login):
	# samba-tool has no command for this attribute.
	ldbmodify -H "$dir/private/sam.ldb" >/dev/null <<-EOF
		dn: CN=$1,CN=Users,DC=example,DC=test
		changetype: modify
		replace: msDS-SupportedEncryptionTypes
		msDS-SupportedEncryptionTypes: $3
	EOF
}

export_keytab() { # SPN FILE
	local out
	rm -f "$2"
	# It says "Export one principal to FILE" on stderr: shown on failure only.
	out=$(samba-tool domain exportkeytab "$2" --principal="$1" -s "$conf" 2>&1) || {
		echo "dc.sh: exporting the keytab of $1 failed: $out" >&2
		return 1
	}
}

# dns_a_records IP LABEL... makes LABEL.example.test an A record for IP in
# the DC's DNS, written to its database directly (as samba-tool does for
# accounts): "samba-tool dns add" logs in over SMB with NTLM, which the
# ntlm-disabled profile refuses.
dns_a_records() {
	/usr/bin/python3 - "$conf" "$@" <<-'EOF'
		import sys
		import ldb
		from samba.auth import system_session
		from samba.dcerpc import dnsp
		from samba.ndr import ndr_pack
		from samba.param import LoadParm
		from samba.samdb import SamDB

		conf, ip, labels = sys.argv[1], sys.argv[2], sys.argv[3:]
		lp = LoadParm()
		lp.load(conf)
		db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
		zone = "DC=example.test,CN=MicrosoftDNS,DC=DomainDnsZones," + str(db.domain_dn())
		for label in labels:
		    rec = dnsp.DnssrvRpcRecord()
		    rec.wType = dnsp.DNS_TYPE_A
		    rec.rank = dnsp.DNS_RANK_ZONE
		    rec.dwTtlSeconds = 900
		    rec.data = ip
		    dn = "DC=%s,%s" % (label, zone)
		    if db.search(base=zone, scope=ldb.SCOPE_ONELEVEL, expression="(name=%s)" % label, attrs=[]):
		        db.delete(dn)
		    db.add({"dn": dn, "objectClass": ["top", "dnsNode"], "dnsRecord": [ndr_pack(rec)]})
	EOF
}

# write_krb5_conf writes DIR/krb5.conf, a client configuration for the
# realm with this DC as its KDC. MIT's profile syntax needs the braces on
# lines of their own. No DNS (the host has no record of the test realm) and
# no canonicalization of the host name a client asks a ticket for: it asks
# for HTTP/<the name in the URL>, whatever that name resolves to.
write_krb5_conf() {
	cat >"$dir/krb5.conf.tmp" <<-EOF
		# written by scripts/dc.sh for the test DC on $(ip_of)
		[libdefaults]
		 default_realm = EXAMPLE.TEST
		 dns_lookup_kdc = false
		 dns_lookup_realm = false
		 rdns = false
		 dns_canonicalize_hostname = false
		[realms]
		 EXAMPLE.TEST = {
		  kdc = $(ip_of)
		  admin_server = $(ip_of)
		 }
		[domain_realm]
		 .example.test = EXAMPLE.TEST
		 example.test = EXAMPLE.TEST
	EOF
	chmod 644 "$dir/krb5.conf.tmp"
	mv "$dir/krb5.conf.tmp" "$dir/krb5.conf"
}

# kerberos sets up, once per DC (DIR/kerberos/done), the service accounts,
# keytabs and DNS names the Kerberos tests need. Restarts and profile
# switches leave them alone: a password change would make the exported
# keytab stale.
kerberos() {
	local k=$dir/kerberos
	write_krb5_conf
	[ -e "$k/done" ] && return 0
	rm -rf "$k"
	mkdir -m 700 "$k"
	service_account svc-http HTTP/www.example.test 24
	# The previous key as a fixture: exported, then the password changed,
	# so the DC issues tickets with the next kvno, which http.keytab has and
	# http-oldkvno.keytab has not (the common admin error: a keytab
	# exported before a password change).
	export_keytab HTTP/www.example.test "$k/http-oldkvno.keytab"
	samba-tool user setpassword svc-http --random-password -s "$conf" >/dev/null
	export_keytab HTTP/www.example.test "$k/http.keytab"
	# Another service's SPN, whose key is not in http.keytab.
	service_account svc-other HTTP/other.example.test 24
	export_keytab HTTP/other.example.test "$k/other.keytab"
	# The RC4 compatibility case.
	service_account svc-rc4 HTTP/rc4.example.test 4
	export_keytab HTTP/rc4.example.test "$k/http-rc4.keytab"
	dns_a_records 127.0.0.1 www other rc4
	touch "$k/done"
}

# many_groups makes the user manygroups (M4ny!Groups) a member of 1,000
# groups big0000..big0999, once per DC (DIR/manygroups.done): the ticket of
# such a user is about 12 KiB in base64, over Apache's default
# LimitRequestFieldSize. A twentieth of the groups are domain-local, a
# twentieth universal, the rest global; of the last hundred, some hold
# big0000 instead of the user (nested). Written in one transaction to the
# DC's database with Samba's own Python, as samba-tool does (about 13 s;
# one samba-tool call per group would take seconds each).
# STACK_MANY_GROUPS=0 skips it.
many_groups() {
	[ "${STACK_MANY_GROUPS:-1}" = 0 ] && return 0
	[ -e "$dir/manygroups.done" ] && return 0
	/usr/bin/python3 - "$conf" <<-'EOF'
		import sys
		from samba.auth import system_session
		from samba.param import LoadParm
		from samba.samdb import SamDB

		lp = LoadParm()
		lp.load(sys.argv[1])
		db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
		base = str(db.domain_dn())
		if not db.search(base=base, expression="(sAMAccountName=manygroups)", attrs=[]):
		    db.newuser("manygroups", "M4ny!Groups")
		user = "CN=manygroups,CN=Users," + base
		first = "CN=big0000,CN=Users," + base
		GLOBAL, LOCAL, UNIVERSAL = -2147483646, -2147483644, -2147483640
		db.transaction_start()
		try:
		    for i in range(1000):
		        gt = LOCAL if i % 20 == 1 else UNIVERSAL if i % 20 == 2 else GLOBAL
		        member = first if i >= 900 and i % 2 else user
		        db.add({"dn": "CN=big%04d,CN=Users,%s" % (i, base), "objectClass": "group",
		                "sAMAccountName": "big%04d" % i, "groupType": str(gt), "member": member})
		    db.transaction_commit()
		except Exception:
		    db.transaction_cancel()
		    raise
	EOF
	touch "$dir/manygroups.done"
}

# delegation sets up, once per DC (DIR/kerberos/delegation-done; a DC made
# before it gets it at its next up), what the delegating location of the
# stack needs (README "Delegation"):
# - ldap/IP on the DC's account: the backend the location's CGI reaches as the
#   user is this DC's LDAP, by address, since the stack puts no host name in
#   /etc/hosts (a real deployment names the DC: ldap/dc1.example.com);
# - carol, an account "sensitive and cannot be delegated" (UF_NOT_DELEGATED):
#   the KDC issues no forwardable ticket for her, so she gets no credential
#   cache;
# - svc-http (the site's service account) may get tickets to ldap/IP as any
#   user (msDS-AllowedToDelegateTo: constrained delegation, S4U2Proxy), also
#   for users who did not log in by Kerberos (protocol transition,
#   UF_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION).
delegation() {
	local k=$dir/kerberos st=(-s "$conf")
	[ -e "$k/delegation-2-done" ] && return 0
	samba-tool spn add "ldap/$(ip_of)" 'DC1$' "${st[@]}" >/dev/null 2>&1 ||
		samba-tool spn list 'DC1$' "${st[@]}" | grep -iF "ldap/$(ip_of)" >/dev/null
	if ! ldbsearch -H "$dir/private/sam.ldb" "(sAMAccountName=carol)" dn 2>/dev/null | grep '^dn: ' >/dev/null; then
		samba-tool user create carol 'C4rol!Pass' "${st[@]}" >/dev/null
	fi
	# "on" fails when the flag is set already (a run cut short): then
	# show must say so.
	samba-tool user sensitive carol on "${st[@]}" >/dev/null 2>&1 ||
		samba-tool user sensitive carol show "${st[@]}" | grep 'UF_NOT_DELEGATED: True' >/dev/null
	samba-tool delegation add-service svc-http "ldap/$(ip_of)" "${st[@]}" >/dev/null 2>&1 ||
		samba-tool delegation show svc-http "${st[@]}" | grep -iF "ldap/$(ip_of)" >/dev/null
	samba-tool delegation for-any-protocol svc-http on "${st[@]}" >/dev/null 2>&1 ||
		samba-tool delegation show svc-http "${st[@]}" | grep 'UF_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION: True' >/dev/null
	touch "$k/delegation-2-done"
}

case $cmd in
up)
	ip=${3:?usage: dc.sh up DIR IP}
	case $ip in 127.*) ;; *) echo "dc.sh: $ip is not a loopback address" >&2; exit 2 ;; esac
	# Samba binds only to addresses an interface has; 127.0.0.1 is on lo
	# already, any other loopback address is added (root needed).
	# (grep >/dev/null, not grep -q: under pipefail an early exit of grep
	# can fail the pipeline with SIGPIPE.)
	if ! ip -o addr show dev lo | grep "inet $ip/" >/dev/null; then
		ip addr add "$ip/32" dev lo
	fi
	if [ ! -e "$dir/provisioned" ]; then
		rm -rf "${dir:?}"/*
		provision "$ip"
	fi
	start "$profile"
	kerberos
	many_groups
	delegation
	;;
start) start "$profile" ;;
restart)
	[ -n "$profile" ] || { echo "usage: dc.sh restart DIR PROFILE" >&2; exit 2; }
	stop
	start "$profile"
	;;
stop) stop ;;
down)
	stop
	rm -rf "$dir"
	;;
*)
	echo "dc.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
