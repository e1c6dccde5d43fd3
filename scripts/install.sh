#!/bin/bash
# Installs GoAuthenNTLM (make install runs it after the build):
#   PREFIX/bin                       the three programs
#   PREFIX/share/doc/goauthenntlm    README, LICENSE, conf.toml.example
#   /etc/systemd/system              the authorizer's units: the service and
#                                    the socket that holds its address
#   /etc/tmpfiles.d                  goauthenntlm.conf: how the unit makes
#                                    the groups cache at every start
#   /etc/apache2/conf-available      the Apache snippet (goauthenntlm.conf),
#                                    server-wide only; PREFIX/share/goauthenntlm
#                                    holds its 401 page, the docs the example
#                                    site (example-site.conf)
#   /etc/goauthenntlm                conf.toml (from the example), the caller
#                                    secret and the Apache include passing it
#   /var/cache/goauthenntlm/groups   the groups cache directory
# and the authorizer's system user, goauthenntlm (the last three by
# scripts/setup.sh, which the Debian package's postinst runs too). The
# state directory /var/lib/goauthenntlm (the Kerberos replay file) is the
# unit's StateDirectory=: systemd makes it at the first start.
#
# Run it again at will: it replaces the programs, docs, unit and snippet, and
# never an existing config, secret or key. Secrets are never printed.
# DESTDIR (packaging) prefixes every path and skips the user creation; as
# root, the files are given to goauthenntlm when that group exists.
set -euo pipefail

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
cd "$(dirname "$0")/.."

user=goauthenntlm
etc=$DESTDIR/etc/goauthenntlm
say() { echo "install: $*"; }

install -D -m 755 -t "$DESTDIR$PREFIX/bin" bin/ntlm-fcgi-authorizer bin/ntlm-group-check bin/ntlm-migrate
install -D -m 644 -t "$DESTDIR$PREFIX/share/doc/goauthenntlm" README.md LICENSE conf.toml.example
install -D -m 644 -t "$DESTDIR/etc/systemd/system" apache/ntlm-fcgi-authorizer.service apache/ntlm-fcgi-authorizer.socket
# Beside the unit, in /etc: PREFIX/lib/tmpfiles.d is searched only for
# PREFIX=/usr/local.
install -D -m 644 apache/goauthenntlm-tmpfiles.conf "$DESTDIR/etc/tmpfiles.d/goauthenntlm.conf"
# The snippet and the site example name the programs and the 401 page
# under /usr/local; the page is not a document (Apache serves it), so it is
# not under doc/.
sed "s|/usr/local/|$PREFIX/|g" apache/goauthenntlm.conf | install -D -m 644 /dev/stdin "$DESTDIR/etc/apache2/conf-available/goauthenntlm.conf"
sed "s|/usr/local/|$PREFIX/|g" apache/example-site.conf | install -D -m 644 /dev/stdin "$DESTDIR$PREFIX/share/doc/goauthenntlm/example-site.conf"
install -D -m 644 apache/goauthenntlm-401.html "$DESTDIR$PREFIX/share/goauthenntlm/401.html"
say "installed the programs in $DESTDIR$PREFIX/bin, the docs, the systemd units (and their tmpfiles.d file), the Apache snippet and its 401 page, and the example site $PREFIX/share/doc/goauthenntlm/example-site.conf"

# The user, /etc/goauthenntlm and the cache: shared with the Debian
# package's postinst.
SETUP_EXAMPLE=conf.toml.example SETUP_TMPFILES=apache/goauthenntlm-tmpfiles.conf DESTDIR=$DESTDIR \
	bash scripts/setup.sh

target=${etc#"$DESTDIR"}
cat <<EOF
install: left to do (README, Install): put the LDAP service account's password
  in $target/ldap.pass (mode 0640, group $user) and the LDAP CA in
  $target/ca.pem (or change those settings), set the [[domain]]
  settings in $target/conf.toml, then
  runuser -u $user -- $PREFIX/bin/ntlm-fcgi-authorizer -config /etc/goauthenntlm/conf.toml -check -probe
  systemctl daemon-reload && systemctl enable --now ntlm-fcgi-authorizer.socket ntlm-fcgi-authorizer.service
  a2enmod authnz_fcgi authn_core authz_core authz_user headers env setenvif alias rewrite ssl authnz_external
  a2enconf goauthenntlm
  your site: the <Location> blocks of $PREFIX/share/doc/goauthenntlm/example-site.conf in its <VirtualHost>
  apache2ctl configtest && systemctl reload apache2
EOF
