#!/bin/bash
# Sets up what GoAuthenNTLM needs besides its files, each only when absent:
#   the system user goauthenntlm (the authorizer runs as it)
#   /etc/goauthenntlm                conf.toml (from the example), the caller
#                                    secret and the Apache include passing it
#   /var/cache/goauthenntlm/groups   the groups cache directory
# Shared by scripts/install.sh (make install) and the Debian package's
# postinst (installed as /usr/share/goauthenntlm/setup.sh), so that both
# make the same files with the same modes.
#
# Run it again at will: it never replaces an existing config, secret or key,
# and never prints a secret.
#   SETUP_EXAMPLE  the conf.toml.example to copy (required)
#   SETUP_TMPFILES the tmpfiles.d file that says how the groups cache and
#                  its parent are made (required; the unit applies it again
#                  at every start)
#   SETUP_SAY      the prefix of its messages (default "install")
#   DESTDIR        prefixes every path and skips the user creation; as root,
#                  the files are given to goauthenntlm when that group exists
set -euo pipefail

example=${SETUP_EXAMPLE:?SETUP_EXAMPLE: the conf.toml.example to copy}
tmpfiles=${SETUP_TMPFILES:?SETUP_TMPFILES: the tmpfiles.d file of the groups cache}
prefix=${SETUP_SAY:-install}
DESTDIR=${DESTDIR:-}

user=goauthenntlm
etc=$DESTDIR/etc/goauthenntlm

say() { echo "$prefix: $*"; }
die() { echo "$prefix: $*" >&2; exit 1; }

# The groups cache and its parent: the "d PATH MODE USER GROUP" lines of
# the tmpfiles.d file, parent first, as systemd-tmpfiles makes them at
# every start.
cache_dirs=$(awk '$1 == "d" && NF >= 5 { print $2, $3, $4, $5 }' "$tmpfiles")
[ -n "$cache_dirs" ] || die "$tmpfiles has no \"d PATH MODE USER GROUP\" line"

root=false
[ "$(id -u)" = 0 ] && root=true

# The service user: the authorizer runs as it, never as Apache's.
if [ -n "$DESTDIR" ]; then
	say "DESTDIR set: not creating the system user $user (the package's scripts must)"
elif ! $root; then
	say "not root: not creating the system user $user"
elif id -u "$user" >/dev/null 2>&1; then
	say "system user $user exists"
else
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user" ||
		die "could not create the system user $user"
	say "created the system user $user"
fi
# Ownership needs root and the group; without them the files keep the
# installer's and the admin (or the package) gives them to $user.
own=false
if $root && getent group "$user" >/dev/null; then
	own=true
else
	say "files stay owned by $(id -un): give /etc/goauthenntlm, its files and the cache directory to group $user on the target"
fi
# chgrp/chown only when we can: give GROUP|USER:GROUP FILE...
give() {
	local who=$1
	shift
	if $own; then
		case $who in *:*) chown -h "$who" "$@" ;; *) chgrp -h "$who" "$@" ;; esac ||
			say "WARNING: could not give $* to $who: do it on the target"
	fi
}

# /etc/goauthenntlm: the authorizer's group reads it, nobody else.
install -d -m 750 "$etc"
give "$user" "$etc"

if [ -e "$etc/conf.toml" ]; then
	say "$etc/conf.toml exists: kept"
else
	install -m 640 "$example" "$etc/conf.toml"
	give "$user" "$etc/conf.toml"
	say "wrote $etc/conf.toml from conf.toml.example: edit the [[domain]] settings"
fi

# The caller secret (conf.toml's caller_secret_file): the authorizer reads it
# and refuses calls without it; Apache passes the same value from
# apache-secret.conf, which only root (Apache reads its config as root)
# reads. Either file alone gives the other its value.
secret_file=$etc/caller.secret
apache_file=$etc/apache-secret.conf
apache_line() { printf 'RequestHeader set GoAuthenNTLM-Secret "%s" early\n' "$1"; }
# The value apache-secret.conf carries, or nothing.
apache_secret() { sed -n 's/^[[:space:]]*RequestHeader[[:space:]]\{1,\}set[[:space:]]\{1,\}GoAuthenNTLM-Secret[[:space:]]\{1,\}"\([^"]*\)".*/\1/p' "$apache_file" | head -n 1; }
# write MODE FILE: stdin into FILE, which never exists with looser modes
# or half written.
write() {
	local tmp
	tmp=$(mktemp "$(dirname "$2")/.install.XXXXXX") # 0600
	cat >"$tmp"
	chmod "$1" "$tmp"
	mv "$tmp" "$2"
}

secret=
if [ -s "$secret_file" ]; then
	secret=$(tr -d '[:space:]' <"$secret_file")
	say "$secret_file exists: kept"
elif [ -s "$apache_file" ] && [ -n "$(apache_secret)" ]; then
	secret=$(apache_secret)
	printf '%s\n' "$secret" | write 640 "$secret_file"
	give "$user" "$secret_file"
	say "wrote $secret_file with the secret $apache_file passes"
else
	secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	[ ${#secret} = 64 ] || die "could not read 32 random bytes from /dev/urandom"
	printf '%s\n' "$secret" | write 640 "$secret_file"
	give "$user" "$secret_file"
	say "wrote $secret_file (a new random caller secret)"
fi

if [ -e "$apache_file" ]; then
	if [ "$(apache_secret)" = "$secret" ]; then
		say "$apache_file exists and passes the caller secret: kept"
	else
		say "WARNING: $apache_file exists but does not pass the secret in $secret_file: kept; make them agree (README, Install) or every login fails with 403"
	fi
else
	apache_line "$secret" | write 600 "$apache_file"
	give root:root "$apache_file"
	say "wrote $apache_file (passes the caller secret; root only)"
fi

# The groups cache: the authorizer writes it, ntlm-group-check (Apache's
# user) reads it. Each directory is made, or put right (an install from
# before the parent was root's), without following a link: once the parent
# is root's, the service user can replace nothing in it. A link where a
# directory should be (planted while the parent was the service user's) is
# left alone, never followed, and reported.
while read -r path mode owner group; do
	dir=$DESTDIR$path
	if [ -L "$dir" ] || { [ -e "$dir" ] && [ ! -d "$dir" ]; }; then
		say "WARNING: $dir is not a directory (a link?): left alone; remove it and run this again"
		continue
	fi
	if [ -d "$dir" ]; then
		say "$dir exists: kept, owner and mode as $tmpfiles says"
	else
		mkdir -p "$(dirname "$dir")"
		mkdir -m "$mode" "$dir"
		say "created $dir"
	fi
	give "$owner:$group" "$dir"
	# chown clears setgid on some systems: the mode after it.
	chmod "$mode" "$dir"
done <<<"$cache_dirs"
