#!/bin/bash
# Builds the Debian packages goauthenntlm_<version>_<arch>.deb (make deb).
#
# With dpkg-deb from a staged tree rather than dpkg-buildpackage: the
# package is three Go binaries and a few files, which a debian/ directory
# would build through debhelper, dh-golang and a Go toolchain Debian 12 does
# not have (it ships Go 1.19; we need 1.26), and dpkg-buildpackage builds
# for one architecture per run. Here every file, mode and maintainer script
# is in this script and packaging/deb/, the Go toolchain is the one that
# builds everything else, and arm64 is a cross-compile away.
#
# Reproducible: two runs on the same commit give the same bytes. The time is
# SOURCE_DATE_EPOCH (default: the commit's), every mtime is set to it, the
# tar members are sorted and owned by root (dpkg-deb --root-owner-group),
# gzip runs with -n, xz with one thread, and the binaries are built with
# -trimpath (no local paths) and without cgo.
#
#   DEB_ARCHES      architectures (default "amd64 arm64")
#   DEB_OUT         where the .deb files go (default: the checkout)
#   DEB_VERSION     the upstream version (default: from git describe)
#   DEB_REVISION    the Debian revision (default 1)
#   DEB_MAINTAINER  the Maintainer field
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
export LC_ALL=C TZ=UTC
umask 022

GO=${GO:-go}
arches=${DEB_ARCHES:-amd64 arm64}
out=${DEB_OUT:-.}
revision=${DEB_REVISION:-1}
maintainer=${DEB_MAINTAINER:-GoAuthenNTLM authors <goauthenntlm@users.noreply.github.com>}
pkg=goauthenntlm
unit=ntlm-fcgi-authorizer.service
socket=ntlm-fcgi-authorizer.socket
programs="ntlm-fcgi-authorizer ntlm-group-check ntlm-migrate"

say() { echo "deb: $*" >&2; }
die() { echo "deb: $*" >&2; exit 1; }

in_git=false
git rev-parse --git-dir >/dev/null 2>&1 && in_git=true
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	$in_git || die "not a git checkout: set SOURCE_DATE_EPOCH and DEB_VERSION"
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
fi
export SOURCE_DATE_EPOCH

# The upstream version from git describe, as Debian orders versions:
#   v1.2.3                  1.2.3
#   v1.2.3-4-gabcdef0       1.2.3+git20261206.4.abcdef0   (after the tag)
#   abcdef0 (no tag)        0.0~git20261206.abcdef0       (before any 0.0)
#   ...-dirty               ...+dirty                     (uncommitted changes)
upstream_version() {
	local d date dirty=
	d=$(git describe --tags --always --dirty)
	date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d)
	case $d in *-dirty) dirty=+dirty d=${d%-dirty} ;; esac
	if ! git describe --tags >/dev/null 2>&1; then
		# no tag: d is the commit's abbreviated hash
		d=0.0~git$date.$d
	elif [[ $d =~ ^v?([0-9][0-9A-Za-z.+~]*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
		d=${BASH_REMATCH[1]}+git$date.${BASH_REMATCH[2]}.${BASH_REMATCH[3]}
	elif [[ $d =~ ^v?([0-9][0-9A-Za-z.+~]*)$ ]]; then
		d=${BASH_REMATCH[1]}
	else
		die "tag $d is no version (v1.2.3): set DEB_VERSION"
	fi
	printf '%s%s\n' "$d" "$dirty"
}
if [ -z "${DEB_VERSION:-}" ]; then
	$in_git || die "not a git checkout: set DEB_VERSION"
	DEB_VERSION=$(upstream_version)
fi
version=$DEB_VERSION-$revision
dpkg --validate-version "$version" >/dev/null || die "not a valid Debian version: $version"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# A man page per program, from its -h and a line of description: cheap,
# and always what the program really accepts.
manpage() { # program description helpfile
	local name=$1 upper
	upper=$(printf '%s' "$name" | tr a-z- A-Z-)
	# .TH title section date source manual. groff cuts a long field short
	# into its neighbour (a version in the footer ran into the date:
	# 0.0~git20261206.749252026-12-06; in the header, into the title), so
	# the fields stay short and the version has a section of its own.
	printf '.TH %s 1 "%s" "goauthenntlm" "GoAuthenNTLM"\n' "$upper" "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)"
	printf '.SH NAME\n%s \\- %s\n' "$name" "$2"
	printf '.SH SYNOPSIS\n.B %s\n[\\fIoptions\\fR]\n' "$name"
	printf '.SH OPTIONS\n'
	# Go's flag usage: "  -name type" then "    \tdescription" lines.
	sed -e 's/\\/\\e/g' "$3" | awk '
		/^  -/ { sub(/^  /, ""); gsub(/-/, "\\-"); print ".TP"; print ".B " $0; next }
		/^    \t/ { sub(/^    \t/, ""); if ($0 ~ /^[.'"'"']/) $0 = "\\&" $0; print; next }'
	printf '.SH VERSION\ngoauthenntlm %s\n' "$version"
	printf '.SH FILES\n/etc/goauthenntlm/conf.toml, /usr/share/goauthenntlm/conf.toml.example (every key, explained)\n'
	printf '.SH SEE ALSO\n/usr/share/doc/goauthenntlm/README.md.gz\n'
}
declare -A describe=(
	[ntlm-fcgi-authorizer]="FastCGI authorizer for Apache: NTLM, Negotiate and Basic logins relayed to Active Directory"
	[ntlm-group-check]="Active Directory group check for Apache mod_authnz_external, from the authorizer's cache"
	[ntlm-migrate]="write the GoAuthenNTLM config from an Apache::AuthenNTLM or PyAuthenNTLM2 Apache config"
)

# The copyright file: ours, then every module linked into the programs with
# its license, as the Go module cache holds it.
copyright() { # binary...
	cat <<-EOF
		This is the Debian package of GoAuthenNTLM, built from its source tree
		(scripts/deb.sh). The programs are statically linked Go binaries: they
		contain the Go standard library and the modules listed below.

		GoAuthenNTLM
		EOF
	sed 's/^/  /' LICENSE
	printf '\nThe Go standard library and toolchain (%s)\n' "$($GO env GOVERSION)"
	sed 's/^/  /' "$($GO env GOROOT)/LICENSE"
	local mod ver dir lic
	"$GO" version -m "$@" | awk '$1 == "dep" { print $2, $3 }' | sort -u | while read -r mod ver; do
		dir=$($GO mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		lic=$(find "$dir" -maxdepth 1 -type f \( -iname 'LICENSE*' -o -iname 'COPYING*' -o -iname 'LICENCE*' \) | sort | head -n 1)
		[ -n "$lic" ] || die "no license file in $mod@$ver ($dir)"
		printf '\n%s %s\n' "$mod" "$ver"
		# Debian's common licenses by reference, as policy asks.
		if grep -q 'Apache License' "$lic" && grep -q 'Version 2.0, January 2004' "$lic"; then
			echo "  Apache License 2.0: /usr/share/common-licenses/Apache-2.0"
		else
			sed 's/^/  /' "$lic"
		fi
		if [ -f "$dir/NOTICE" ]; then
			echo "  NOTICE:"
			sed 's/^/    /' "$dir/NOTICE"
		fi
	done
}

changelog() {
	local desc=unknown
	$in_git && desc=$(git describe --tags --always --dirty)
	cat <<-EOF
		$pkg ($version) unstable; urgency=medium

		  * Built from the GoAuthenNTLM source tree, git $desc.

		 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
		EOF
}

for arch in $arches; do
	case $arch in amd64 | arm64) ;; *) die "unsupported architecture $arch (amd64, arm64)" ;; esac
	root=$work/$arch
	mkdir -p "$root"
	chmod 755 "$root"
	say "building $pkg $version for $arch"
	# -trimpath: no build paths in the binaries; VCS stamping stays on in a
	# checkout (-version shows the revision, the same for every build of it).
	# -s -w: Debian ships binaries stripped. -version says the package's
	# version (and the revision, where the go command stamps one). PIE: the daemon that holds
	# the caller secret and relays logins gets address randomization (no
	# cgo still: the Go linker links it, no C library but the loader).
	GOOS=linux GOARCH=$arch CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=$in_git \
		-buildmode=pie -ldflags="-s -w -X github.com/goauthenntlm/goauthenntlm/internal/buildinfo.packageVersion=$version" \
		-o "$work/bin-$arch/" ./cmd/...
	for p in $programs; do
		install -D -m 755 "$work/bin-$arch/$p" "$root/usr/bin/$p"
	done

	# The unit and the snippet name the programs where the package puts them.
	sed -e 's|/usr/local/bin/|/usr/bin/|g' \
		-e 's|^Documentation=file:///usr/local/share/doc/goauthenntlm/README.md$|Documentation=file:///usr/share/doc/goauthenntlm/README.md.gz|' \
		apache/ntlm-fcgi-authorizer.service >"$work/$unit"
	grep -q '^Documentation=file:///usr/share/doc/goauthenntlm/README.md.gz$' "$work/$unit" ||
		die "the unit's Documentation= line changed: adapt scripts/deb.sh"
	! grep -q /usr/local/ "$work/$unit" || die "the unit still names /usr/local: adapt scripts/deb.sh"
	install -D -m 644 "$work/$unit" "$root/lib/systemd/system/$unit"
	sed -e 's|^Documentation=file:///usr/local/share/doc/goauthenntlm/README.md$|Documentation=file:///usr/share/doc/goauthenntlm/README.md.gz|' \
		apache/$socket >"$work/$socket"
	! grep -q /usr/local/ "$work/$socket" || die "the socket unit still names /usr/local: adapt scripts/deb.sh"
	install -D -m 644 "$work/$socket" "$root/lib/systemd/system/$socket"
	install -D -m 644 apache/goauthenntlm-tmpfiles.conf "$root/usr/lib/tmpfiles.d/$pkg.conf"
	# The snippet (server-wide only) and its 401 page, which Apache serves
	# (so not under /usr/share/doc, which dpkg may be told not to install);
	# the example site, a document.
	sed -e 's|/usr/local/|/usr/|g' apache/goauthenntlm.conf >"$work/goauthenntlm.conf"
	install -D -m 644 "$work/goauthenntlm.conf" "$root/etc/apache2/conf-available/goauthenntlm.conf"
	install -D -m 644 apache/goauthenntlm-401.html "$root/usr/share/$pkg/401.html"
	sed -e 's|/usr/local/|/usr/|g' apache/example-site.conf >"$work/example-site.conf"
	install -D -m 644 "$work/example-site.conf" "$root/usr/share/doc/$pkg/examples/example-site.conf"

	# What the postinst needs (not under /usr/share/doc, which dpkg may be
	# told not to install).
	install -D -m 755 scripts/setup.sh "$root/usr/share/$pkg/setup.sh"
	install -D -m 644 conf.toml.example "$root/usr/share/$pkg/conf.toml.example"

	doc=$root/usr/share/doc/$pkg
	install -d "$doc"
	gzip -n -9 <README.md >"$doc/README.md.gz"
	changelog | gzip -n -9 >"$doc/changelog.Debian.gz"
	copyright "$work/bin-$arch/ntlm-fcgi-authorizer" "$work/bin-$arch/ntlm-group-check" "$work/bin-$arch/ntlm-migrate" >"$doc/copyright"
	find "$doc" -type f -exec chmod 644 {} +

	# Man pages from the host's build of each program (same flags on every
	# architecture).
	if [ ! -d "$work/bin-host" ]; then
		CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=false -o "$work/bin-host/" ./cmd/...
	fi
	install -d "$root/usr/share/man/man1"
	for p in $programs; do
		"$work/bin-host/$p" -h >"$work/$p.help" 2>&1 || true
		grep -q '^  -' "$work/$p.help" || die "$p -h printed no flags"
		manpage "$p" "${describe[$p]}" "$work/$p.help" | gzip -n -9 >"$root/usr/share/man/man1/$p.1.gz"
		chmod 644 "$root/usr/share/man/man1/$p.1.gz"
	done

	install -D -m 644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/$pkg"

	# DEBIAN: control, conffiles, maintainer scripts, md5sums.
	install -d "$root/DEBIAN"
	for s in postinst prerm postrm; do
		install -m 755 "packaging/deb/$s" "$root/DEBIAN/$s"
	done
	(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) >"$root/DEBIAN/md5sums"
	size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
	sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$size|" -e "s|@MAINTAINER@|$maintainer|" \
		packaging/deb/control.in >"$root/DEBIAN/control"
	chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

	find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	deb=$out/${pkg}_${version}_$arch.deb
	dpkg-deb --root-owner-group --threads-max=1 -Zxz --build "$root" "$deb" >/dev/null
	say "wrote $deb"
done
