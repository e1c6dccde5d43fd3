#!/usr/bin/env bash
# deps.sh installs, from Debian's packages, what the demo, the tests and the
# benchmarks need: a Samba AD DC, Apache with mod_authnz_fcgi and
# mod_authnz_external, curl, wrk, the LDAP tools and Chromium. It is idempotent and
# quiet when everything is already there.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have samba || need+=(samba samba-ad-dc samba-ad-provision winbind)
have samba-tool || need+=(samba-ad-provision)
have smbclient || need+=(smbclient)
have ldapsearch || need+=(ldap-utils)
have apache2 || need+=(apache2)
[ -e /usr/lib/apache2/modules/mod_authnz_external.so ] || need+=(libapache2-mod-authnz-external)
# The Kerberos peer of make bench's P7, on the same Apache.
[ -e /usr/lib/apache2/modules/mod_auth_gssapi.so ] || need+=(libapache2-mod-auth-gssapi)
have curl || need+=(curl)
have wrk || need+=(wrk)
have openssl || need+=(openssl)
have ss || need+=(iproute2)
# The stacks hold the authorizer's privileged port as systemd's .socket unit
# does, through systemd's own socket-activation helper.
have systemd-socket-activate || need+=(systemd)
have make || need+=(make)
# The real-browser end-to-end tests (test/e2e/chromium_test.go, firefox_test.go).
have chromium || need+=(chromium)
have firefox-esr || need+=(firefox-esr)
# Kerberos: MIT's client (kinit, kvno, klist), faketime for a skewed
# client clock, ldbmodify for the service account's encryption types.
have kinit || need+=(krb5-user)
have faketime || need+=(faketime)
have ldbmodify || need+=(ldb-tools)
# Extended Protection: a second NTLM client that sends channel bindings.
/usr/bin/python3 -c 'import requests_ntlm' >/dev/null 2>&1 || need+=(python3-requests-ntlm)
# Several nodes behind a load balancer (scripts/cluster.sh): HAProxy in front,
# Redis as the nodes' shared Kerberos replay cache.
have haproxy || need+=(haproxy)
have redis-server || need+=(redis-server)
# The Debian package (make deb) and its checks.
have dpkg-deb || need+=(dpkg-dev)
have dpkg-buildpackage || need+=(dpkg-dev)
have fakeroot || need+=(fakeroot)
have lintian || need+=(lintian)
# go test -race needs cgo.
have gcc || need+=(gcc libc6-dev)

if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: missing packages (${need[*]}); run as root or install them" >&2
		exit 1
	fi
	echo "deps.sh: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq -o DPkg::Lock::Timeout=600
	apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null

	# Debian may start its own Samba, Apache, HAProxy and Redis on install
	# (where an init system runs them); they would hold ports 445/389/636,
	# 80 and 6379. Stop
	# them, right after installing only: later, a "service smbd stop"
	# would also kill the smbd of a DC this project started.
	for svc in samba-ad-dc smbd nmbd winbind apache2 haproxy redis-server; do
		if command -v service >/dev/null 2>&1 && service "$svc" status >/dev/null 2>&1; then
			service "$svc" stop >/dev/null 2>&1 || true
		fi
	done
fi
exit 0
